"""VPN/proxy routes carry real requests through a real proxy on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from pellacia.contract import Route
from pellacia.errors import Transient, Unsupported
from pellacia.http import client_session
from pellacia.plugins import load_plugins
from pellacia_vpn.routes import ProxyRoute, TunnelRoute, parse_routes

PASSWORD = "hunter2-proxy-secret"
HOP_BY_HOP = {"proxy-authorization", "proxy-connection", "connection", "keep-alive", "host"}


@dataclass
class Counter:
    seen: list[str] = field(default_factory=list)


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


@pytest.fixture(scope="module")
async def target() -> AsyncIterator[tuple[str, Counter]]:
    """The "platform": answers who it is and counts what reached it."""
    counter = Counter()

    async def hello(request: web.Request) -> web.Response:
        counter.seen.append(request.path)
        return web.json_response({"hello": "from target", "path": request.path})

    app = web.Application()
    app.router.add_get("/{tail:.*}", hello)
    runner, port = await _serve(app)
    yield f"http://127.0.0.1:{port}", counter
    await runner.cleanup()


@pytest.fixture(scope="module")
async def http_proxy() -> AsyncIterator[tuple[int, Counter]]:
    """A tiny HTTP forward proxy: absolute-URI requests, Basic proxy auth, counts requests."""
    counter = Counter()
    expected = "Basic " + base64.b64encode(f"bob:{PASSWORD}".encode()).decode()
    upstream = aiohttp.ClientSession()

    async def forward(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Proxy-Authorization") != expected:
            return web.Response(status=407, headers={"Proxy-Authenticate": "Basic"})
        target = str(request.url)  # absolute-form request target, host from the request
        counter.seen.append(target)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with upstream.request(
            request.method, target, headers=headers, data=await request.read()
        ) as resp:
            body = await resp.read()
            return web.Response(status=resp.status, body=body, content_type=resp.content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner, port = await _serve(app)
    yield port, counter
    await runner.cleanup()
    await upstream.close()


@pytest.fixture(scope="module")
async def socks_proxy() -> AsyncIterator[tuple[int, Counter]]:
    """A tiny SOCKS5 proxy (RFC 1928 CONNECT + RFC 1929 user/password)."""
    counter = Counter()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            _, count = await reader.readexactly(2)
            methods = await reader.readexactly(count)
            if 2 not in methods:
                writer.write(b"\x05\xff")
                return
            writer.write(b"\x05\x02")
            _, ulen = await reader.readexactly(2)
            user = await reader.readexactly(ulen)
            (plen,) = await reader.readexactly(1)
            password = await reader.readexactly(plen)
            if (user, password) != (b"bob", PASSWORD.encode()):
                writer.write(b"\x01\x01")
                return
            writer.write(b"\x01\x00")
            _, cmd, _, atyp = await reader.readexactly(4)
            if atyp == 1:
                host = socket.inet_ntoa(await reader.readexactly(4))
            elif atyp == 3:
                (length,) = await reader.readexactly(1)
                host = (await reader.readexactly(length)).decode()
            else:
                writer.write(b"\x05\x08\x00\x01" + bytes(6))
                return
            (port,) = struct.unpack("!H", await reader.readexactly(2))
            if cmd != 1 or host not in ("127.0.0.1", "localhost"):  # loopback only
                writer.write(b"\x05\x02\x00\x01" + bytes(6))
                return
            up_reader, up_writer = await asyncio.open_connection(host, port)
            counter.seen.append(f"{host}:{port}")
            writer.write(b"\x05\x00\x00\x01" + bytes(6))
            await writer.drain()
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], counter
    server.close()
    await server.wait_closed()


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def route_named(url: str, name: str = "nl") -> ProxyRoute:
    (route,) = parse_routes({"routes": {name: {"kind": "proxy", "url": url}}})
    assert isinstance(route, ProxyRoute)
    return route


async def test_request_passes_through_http_proxy(target, http_proxy) -> None:
    base, reached = target
    port, proxied = http_proxy
    route = route_named(f"http://bob:{PASSWORD}@127.0.0.1:{port}")
    async with (
        route.open() as handle,
        client_session(proxy=handle.proxy) as http,
        http.get(f"{base}/via-http-proxy") as resp,
    ):
        assert handle.name == "vpn:nl"
        assert resp.status == 200
        assert (await resp.json())["path"] == "/via-http-proxy"
    assert proxied.seen == [f"{base}/via-http-proxy"]
    assert "/via-http-proxy" in reached.seen


async def test_wrong_proxy_password_is_refused_by_the_proxy(target, http_proxy) -> None:
    base, _ = target
    port, proxied = http_proxy
    before = len(proxied.seen)
    route = route_named(f"http://bob:wrong@127.0.0.1:{port}")
    async with (
        route.open() as handle,
        client_session(proxy=handle.proxy) as http,
        http.get(f"{base}/x") as resp,
    ):
        assert resp.status == 407
    assert len(proxied.seen) == before


async def test_request_passes_through_socks5_proxy(target, socks_proxy) -> None:
    base, reached = target
    port, tunnelled = socks_proxy
    route = route_named(f"socks5://bob:{PASSWORD}@127.0.0.1:{port}", name="socks")
    async with (
        route.open() as handle,
        client_session(proxy=handle.proxy) as http,
        http.get(f"{base}/via-socks") as resp,
    ):
        assert resp.status == 200
        assert (await resp.json())["hello"] == "from target"
    assert tunnelled.seen == [base.removeprefix("http://")]
    assert "/via-socks" in reached.seen


async def test_unreachable_proxy_is_transient_and_hides_the_password() -> None:
    route = route_named(f"http://bob:{PASSWORD}@127.0.0.1:{free_port()}", name="dead")
    with pytest.raises(Transient) as err:
        async with route.open():
            pass
    message = str(err.value)
    assert "route vpn:dead" in message and "unreachable" in message
    assert PASSWORD not in message and PASSWORD not in repr(route)
    assert "bob:**********@127.0.0.1" in message
    assert err.value.retryable


async def test_tunnel_route_says_what_is_wrong(tmp_path: Path) -> None:
    config = tmp_path / "nl.ovpn"
    config.write_text("client\n")  # no remote: openvpn refuses it
    routes = parse_routes(
        {
            "dir": str(tmp_path / "none"),
            "prefix": "pvq",
            "routes": {
                "ovpn": {"kind": "openvpn", "config_file": str(config)},
                "wg": {"kind": "wireguard", "config_file": str(tmp_path / "absent.conf")},
            },
        }
    )
    ovpn, wg = routes
    assert isinstance(ovpn, TunnelRoute) and isinstance(wg, TunnelRoute)
    assert any("absent.conf does not exist" in p for p in wg.missing())
    with pytest.raises(Unsupported) as missing:
        async with wg.open():
            pass
    assert "route vpn:wg (WireGuard) cannot be used" in str(missing.value)
    if ovpn.missing():  # not root, or the programs are absent: said exactly
        with pytest.raises(Unsupported) as err:
            async with ovpn.open():
                pass
        assert all(problem in str(err.value) for problem in ovpn.missing())
        return
    with pytest.raises(Transient) as failed:
        async with ovpn.open():
            pass
    assert "OpenVPN route ovpn failed" in str(failed.value) and "--remote" in str(failed.value)
    await ovpn.supervisor.close()


def test_plugin_registers_one_route_per_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PELLACIA_LOAD_PLUGINS", "vpn")
    monkeypatch.setenv("PELLACIA_STRICT_PLUGINS", "1")
    section = {
        "routes": {
            "nl": {"url": f"http://bob:{PASSWORD}@127.0.0.1:3128", "platforms": ["tiktok"]},
            "de": {"url": "socks5://127.0.0.1:1080"},
        }
    }
    registry = load_plugins({"vpn": section}, include_defaults=False)
    assert sorted(registry.routes) == ["vpn:de", "vpn:nl"]
    nl = registry.routes["vpn:nl"]
    assert isinstance(nl, Route) and nl.kind == "proxy"
    assert isinstance(nl, ProxyRoute) and nl.serves("tiktok") and not nl.serves("youtube")
    assert PASSWORD not in repr(nl)
    # nothing configured: nothing registered, nothing broken
    registry = load_plugins({}, include_defaults=False)
    assert registry.routes == {} and registry.plugins[0].error is None


def test_bad_route_is_reported_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PELLACIA_LOAD_PLUGINS", "vpn")
    monkeypatch.setenv("PELLACIA_STRICT_PLUGINS", "0")
    section = {"routes": {"bad": {"url": f"ftp://bob:{PASSWORD}@127.0.0.1:21"}}}
    registry = load_plugins({"vpn": section}, include_defaults=False)
    error = registry.plugins[0].error or ""
    assert "[plugins.vpn.routes.bad]" in error and "'ftp'" in error
    assert PASSWORD not in error
    assert registry.routes == {}


def test_vpn_check_command(http_proxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import click
    from click.testing import CliRunner
    from pellacia.cli.context import AppContext
    from pellacia.plugins import install_commands

    monkeypatch.setenv("PELLACIA_LOAD_PLUGINS", "vpn")
    monkeypatch.setenv("PELLACIA_STRICT_PLUGINS", "1")
    root = click.Group()
    install_commands(load_plugins(include_defaults=False), root)
    assert "vpn" in root.commands  # the plugin adds the command through its hook

    port, _ = http_proxy
    config = tmp_path / "config.toml"
    config.write_text(
        f'[plugins.vpn.routes.live]\nurl = "http://bob:{PASSWORD}@127.0.0.1:{port}"\n'
        f'[plugins.vpn.routes.dead]\nurl = "http://bob:{PASSWORD}@127.0.0.1:{free_port()}"\n'
    )
    result = CliRunner().invoke(root, ["vpn", "check"], obj=AppContext(config_file=config))
    assert result.exit_code == 1, result.output
    assert "vpn:live: ok" in result.output
    assert "vpn:dead: failed (route vpn:dead: proxy" in result.output
    assert PASSWORD not in result.output
