"""The failure the bench reports in one line instead of a traceback."""


class BenchError(Exception):
    """The run cannot give honest figures: a server did not start, or a call misbehaved."""
