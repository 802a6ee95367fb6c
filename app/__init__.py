"""The composition root: configuration, logging, and the serve, server, shim and migrate
commands."""
