"""Domain errors. Servicers map each to one gRPC status code."""

# How much of a caller's value an error message quotes back: enough to recognise it. The
# message travels in a gRPC trailer, and trailers past the peer's metadata limit (8 KiB by
# default) break the call instead of carrying its status.
ECHO_LIMIT = 100


def shown(value: str, limit: int = ECHO_LIMIT) -> str:
    """`value` quoted for an error message, cut to its first `limit` characters."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value)} characters)"


class TocsinError(Exception):
    """Base of the errors a caller can act on; the message is shown to them."""


class InvalidArgument(TocsinError):
    """Input that will never be valid: names the field and the rule it broke."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


class NotFound(TocsinError):
    pass


class AlreadyExists(TocsinError):
    pass


class FailedPrecondition(TocsinError):
    """The request is well-formed but not allowed in the current state."""


class Unavailable(TocsinError):
    """A dependency (the database) failed; retrying later can help."""


class ResourceExhausted(TocsinError):
    """A limit on what one caller, or all, may hold at once (open streams): close some first."""


class Unauthenticated(TocsinError):
    """No token, or one that is unknown or revoked."""


class DeadlineExceeded(Unavailable):
    """The call took longer than its deadline; it may or may not have taken effect."""


class StartupError(TocsinError):
    """A process cannot start as configured (a port taken, say)."""


class PermissionDenied(TocsinError):
    """Known caller, refused: e.g. a disabled integration or a topic not on its allow-list."""


class ConfigError(Exception):
    """A configuration key with a bad value: start-up stops, naming it. Kept here, with no
    imports, so that the CLI can catch it without loading the configuration's code."""

    def __init__(self, key: str, problem: str, source: str = "") -> None:
        where = f" (from {source})" if source else ""
        super().__init__(f"configuration key {key!r}{where}: {problem}")
        self.key = key
