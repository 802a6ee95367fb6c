"""Alerts: the model, the lifecycle as pure functions, and the use cases that run it in the
store."""
