"""One health probe through a route's proxy: SOCKS CONNECT + a small GET, hard timeout."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    latency: float  # seconds, until the answer (or the failure)
    egress_ip: str | None = None  # what the check URL saw, when it says
    problem: str | None = None


async def probe(proxy: str | None, check_url: str, limit: float) -> ProbeResult:
    """GET ``check_url`` through ``proxy`` (None: directly) within ``limit`` seconds.

    The check URL should answer 2xx, ideally JSON with ``client_ip`` (or
    ``ip``/``origin``, as ipify and httpbin do): that becomes the egress IP.
    """
    import aiohttp
    from aiohttp_socks import ProxyError as AioProxyError
    from pellacia.http import client_session
    from python_socks import ProxyError

    started = time.monotonic()
    try:
        async with asyncio.timeout(limit):
            async with (
                client_session(proxy=proxy, connect_timeout=limit, read_timeout=limit) as http,
                http.get(check_url, allow_redirects=False) as resp,
            ):
                body = await resp.read()
                if resp.status >= 400:
                    return ProbeResult(
                        False, time.monotonic() - started, None, f"HTTP {resp.status}"
                    )
                return ProbeResult(True, time.monotonic() - started, _egress(body))
    except TimeoutError:
        return ProbeResult(False, time.monotonic() - started, None, f"no answer within {limit:g} s")
    except (aiohttp.ClientError, OSError, ProxyError, AioProxyError) as exc:
        problem = str(exc) or type(exc).__name__
        return ProbeResult(False, time.monotonic() - started, None, problem)


def _egress(body: bytes) -> str | None:
    import json

    try:
        data = json.loads(body)
    except ValueError:
        text = body.decode(errors="replace").strip()
        return text if text and len(text) < 64 and " " not in text else None
    if isinstance(data, dict):
        for key in ("client_ip", "ip", "origin"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return None
