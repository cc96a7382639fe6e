"""The one place HTTP client sessions are made.

Every platform call goes through a session from ``client_session``: same
timeouts, same user agent, and the route's proxy applied. aiohttp is imported
lazily so CLI start stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pellacia import __version__

if TYPE_CHECKING:
    import aiohttp

USER_AGENT = f"pellacia-dist/{__version__}"


def client_session(
    *,
    proxy: str | None = None,
    total_timeout: float | None = None,
    connect_timeout: float = 15.0,
    read_timeout: float = 120.0,
    limit_per_host: int = 8,
    resolver: aiohttp.abc.AbstractResolver | None = None,
) -> aiohttp.ClientSession:
    """A new ``aiohttp.ClientSession`` configured the pellacia-dist way.

    ``proxy`` (http(s):// or socks via the route plugin) applies to every
    request. No redirects are followed for uploads by the callers (YouTube's
    308 means "resume incomplete"), so sessions keep aiohttp's default and
    callers pass ``allow_redirects=False`` on upload requests. ``resolver``
    replaces the DNS resolver of direct connections (webhooks check every address
    they connect to).
    """
    import aiohttp

    timeout = aiohttp.ClientTimeout(
        total=total_timeout, connect=connect_timeout, sock_read=read_timeout
    )
    if proxy is not None and proxy.startswith("socks"):
        # aiohttp speaks only HTTP proxies; SOCKS goes through aiohttp-socks'
        # connector (a dependency of the vpn plugin, which makes such routes).
        connector = _socks_connector(proxy, limit_per_host)
        proxy = None
    else:
        connector = aiohttp.TCPConnector(
            limit_per_host=limit_per_host, enable_cleanup_closed=True, resolver=resolver
        )
    return aiohttp.ClientSession(
        timeout=timeout,
        connector=connector,
        headers={"User-Agent": USER_AGENT},
        proxy=proxy,
        raise_for_status=False,
    )


def _socks_connector(proxy: str, limit_per_host: int) -> aiohttp.TCPConnector:
    from pellacia.errors import ConfigError

    try:
        from aiohttp_socks import ProxyConnector
    except ImportError:
        raise ConfigError(
            "a socks:// proxy needs the aiohttp-socks package (pip install pellacia-dist-vpn)"
        ) from None
    connector: aiohttp.TCPConnector = ProxyConnector.from_url(
        proxy, limit_per_host=limit_per_host, enable_cleanup_closed=True
    )
    return connector
