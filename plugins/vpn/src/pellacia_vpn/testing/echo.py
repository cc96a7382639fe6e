"""The test world's "internet" endpoint: answers with the address it was reached from.

Run inside the server namespace: ``python -m pellacia_vpn.testing.echo HOST PORT
[DNS_ADDRESS WEB_ADDRESS]``. Every request is logged on stdout as ``<client
address> <path>`` so a test can prove that nothing arrived from an address it
should not. With a DNS address, a tiny DNS server there answers every
``*.test`` A query with WEB_ADDRESS (logged as ``<client> dns:<name>``).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
from typing import Any

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


class Dns(asyncio.DatagramProtocol):
    """A queries for ``*.test`` -> one address; anything else: no answer (NOERROR)."""

    def __init__(self, answer: str) -> None:
        self.answer = socket.inet_aton(answer)
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.DatagramTransport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        labels, at = [], 12
        while data[at]:
            labels.append(data[at + 1 : at + 1 + data[at]].decode())
            at += 1 + data[at]
        qtype = struct.unpack("!H", data[at + 1 : at + 3])[0]
        question = data[12 : at + 5]
        name = ".".join(labels)
        print(addr[0], f"dns:{name}", flush=True)
        found = qtype == 1 and name.endswith(".test")
        header = data[:2] + struct.pack("!HHHHH", 0x8180, 1, int(found), 0, 0)
        answer = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + self.answer if found else b""
        assert self.transport is not None
        self.transport.sendto(header + question + answer, addr)


def main() -> None:
    app = web.Application(client_max_size=1 << 30)
    if len(sys.argv) > 4:

        async def dns(app: web.Application) -> None:
            loop = asyncio.get_running_loop()
            await loop.create_datagram_endpoint(
                lambda: Dns(sys.argv[4]), local_addr=(sys.argv[3], 53)
            )

        app.on_startup.append(dns)
    app.router.add_get("/ip", ip)
    app.router.add_get("/blob", blob)
    app.router.add_post("/sink", sink)
    print("ready", flush=True)
    web.run_app(app, host=sys.argv[1], port=int(sys.argv[2]), print=None, access_log=None)


if __name__ == "__main__":
    main()
