"""Push pages through Firebase Cloud Messaging, and their settings, which import without
firebase-admin."""
