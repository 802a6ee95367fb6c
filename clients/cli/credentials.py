"""Which token a CLI command calls with, and where it came from (for messages about it)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from clients.cli.arguments import UsageError
from service.tokens.usecases import ADMIN_TOKEN_FILE, read_token_file


def token_in_use(args: argparse.Namespace) -> tuple[str, str]:
    """The token: `--token`, else `TOCSIN_TOKEN`, else the admin token file in the data
    directory; and which of those it was."""
    if args.token:
        return str(args.token), "--token"
    if os.environ.get("TOCSIN_TOKEN"):
        return os.environ["TOCSIN_TOKEN"], "TOCSIN_TOKEN"
    data_dir = args.data_dir or os.environ.get("TOCSIN_DATA_DIR") or ".tocsin"
    path = Path(data_dir) / ADMIN_TOKEN_FILE
    try:
        return read_token_file(path), str(path)
    except OSError:
        raise UsageError(
            f"no token: pass --token, set TOCSIN_TOKEN, or point --data-dir at the server's "
            f"data directory (no readable {path})"
        ) from None
