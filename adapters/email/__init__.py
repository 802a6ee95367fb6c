"""Email pages over SMTP, and their settings, which import without the SMTP client."""
