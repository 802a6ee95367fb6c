"""Outbound notification channels (email, SMS, voice, push, webhook) that the engine calls."""
