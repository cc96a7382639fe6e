"""The test world's "internet" endpoint: answers with the address it was reached from.

Run inside the server namespace: ``python -m pellacia_vpn.testing.echo HOST PORT``. Every
request is logged on stdout as ``<client address> <path>`` so a test can
prove that nothing arrived from an address it should not.
"""

from __future__ import annotations

import sys

from aiohttp import web


async def ip(request: web.Request) -> web.Response:
    peer = request.transport.get_extra_info("peername")[0] if request.transport else "?"
    print(peer, request.path_qs, flush=True)
    return web.json_response({"client_ip": peer})


async def blob(request: web.Request) -> web.StreamResponse:
    """``/blob?mb=N``: N MiB of zeros (throughput)."""
    size = int(request.query.get("mb", "1")) << 20
    response = web.StreamResponse(headers={"Content-Length": str(size)})
    await response.prepare(request)
    chunk = bytes(1 << 16)
    for _ in range(size >> 16):
        await response.write(chunk)
    return response


async def sink(request: web.Request) -> web.Response:
    """``POST /sink``: reads the body, answers its size (upload throughput)."""
    size = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
    return web.json_response({"bytes": size})


def main() -> None:
    app = web.Application(client_max_size=1 << 30)
    app.router.add_get("/ip", ip)
    app.router.add_get("/blob", blob)
    app.router.add_post("/sink", sink)
    print("ready", flush=True)
    web.run_app(app, host=sys.argv[1], port=int(sys.argv[2]), print=None, access_log=None)


if __name__ == "__main__":
    main()
