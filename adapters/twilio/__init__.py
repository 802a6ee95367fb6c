"""Twilio: SMS and voice pages, and the settings the HTTP edge checks Twilio's callbacks with.

The settings import without the SDK, so reading the configuration stays quick.
"""
