"""A bare HTTP server: reads the body and answers 200 with a small JSON, nothing else.

Run as `python -m bench.http_echo PORT`. Measured next to Tocsin's SNS endpoint, it separates
what Python HTTP itself costs from what verifying and storing a delivery adds.
"""

from __future__ import annotations

import argparse

from aiohttp import web

from bench.process import LOOPBACK


async def _answer(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"status": "stored", "alert": "1"})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.http_echo")
    parser.add_argument("port", type=int)
    port = parser.parse_args().port
    app = web.Application(client_max_size=512 * 1024)
    app.router.add_post("/{path:.*}", _answer)
    app.router.add_get("/healthz", _answer)
    web.run_app(app, host=LOOPBACK, port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
