"""Paging: the notifier protocol, page planning and retries (pure), and the engine that sends."""
