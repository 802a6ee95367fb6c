"""Webhook pages: signed JSON POSTed to the user's URL, and their settings, which import
without the HTTP client."""
