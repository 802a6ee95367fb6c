"""The composition root: configuration, logging, the service's commands, and the tocsin program."""
