"""pellacia.sdk against a scripted aiohttp server on 127.0.0.1: the authorized
request's refresh and error mapping, the upload loop, token parsing."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pellacia.clock import FakeClock
from pellacia.contract import PlatformContext, TokenSet
from pellacia.errors import (
    AuthExpired,
    Challenge,
    OutcomeUnknown,
    RateLimited,
    Rejected,
    Transient,
)
from pellacia.http import client_session
from pellacia.sdk import (
    ApiClient,
    Chunk,
    Reply,
    parse_token_response,
    poll_delays,
    upload_chunks,
)

Handler = Callable[[web.Request, bytes], Awaitable[web.StreamResponse]]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Tokens:
    """A token source whose refresh hands out the next token."""

    def __init__(self) -> None:
        self.token = TokenSet(access_token="tok-1")
        self.refreshes = 0

    async def current(self) -> TokenSet:
        return self.token

    async def refresh(self) -> TokenSet:
        self.refreshes += 1
        self.token = TokenSet(access_token=f"tok-{self.refreshes + 1}")
        return self.token


@dataclass
class Server:
    url: str = ""
    handler: Handler | None = None
    seen: list[tuple[str, str, str, int]] = field(default_factory=list)  # method, path, auth, bytes

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(
            (request.method, request.path, request.headers.get("Authorization", ""), len(body))
        )
        assert self.handler is not None
        return await self.handler(request, body)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", srv.dispatch)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    srv.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield srv
    finally:
        await runner.cleanup()


class Api(ApiClient):
    display_name = "Demo"
    status_errors = {403: Challenge}


@pytest.fixture
async def ctx(server: Server) -> AsyncIterator[PlatformContext]:
    async with client_session() as http:
        yield PlatformContext(
            platform="demo",
            account="a",
            http=http,
            tokens=Tokens(),
            clock=FakeClock(NOW),
            sandbox_url=server.url,
        )


def api(ctx: PlatformContext) -> Api:
    return Api(ctx)


async def test_bearer_and_one_refresh_then_one_retry_with_the_body_again(
    server: Server, ctx: PlatformContext
) -> None:
    async def handler(request: web.Request, body: bytes) -> web.Response:
        if request.headers["Authorization"] == "Bearer tok-1":
            return web.json_response({"error": "expired"}, status=401)
        return web.json_response({"got": len(body)})

    server.handler = handler
    client = api(ctx)
    data = await client.json("POST", "/v1/things", action="make", data=b"x" * 1000)
    assert data == {"got": 1000}
    assert client.refreshes == 1 and ctx.tokens.refreshes == 1  # type: ignore[attr-defined]
    assert [s[2] for s in server.seen] == ["Bearer tok-1", "Bearer tok-2"]
    assert [s[3] for s in server.seen] == [1000, 1000]
    assert server.seen[0][1] == "/demo/v1/things"  # ctx.endpoint: the sandbox's fake


async def test_encoded_urls_are_sent_as_built(server: Server, ctx: PlatformContext) -> None:
    """``encoded_urls``: a percent-encoded ':' reaches the server encoded (aiohttp
    would otherwise requote it); by default the URL is requoted."""
    raw: list[str] = []

    async def handler(request: web.Request, body: bytes) -> web.Response:
        raw.append(request.raw_path)
        return web.json_response({})

    class Exact(Api):
        encoded_urls = True

    server.handler = handler
    await Exact(ctx).request("GET", "/v/urn%3Ali%3Avideo%3A1", action="read")
    await api(ctx).request("GET", "/v/urn%3Ali%3Avideo%3A1", action="read")
    assert raw == ["/demo/v/urn%3Ali%3Avideo%3A1", "/demo/v/urn:li:video:1"]


async def test_a_second_401_is_auth_expired_after_exactly_one_refresh(
    server: Server, ctx: PlatformContext
) -> None:
    async def handler(request: web.Request, body: bytes) -> web.Response:
        return web.json_response({"error": {"message": "bad token"}}, status=401)

    server.handler = handler
    client = api(ctx)
    with pytest.raises(AuthExpired, match="bad token"):
        await client.request("GET", "/x", action="read")
    assert client.refreshes == 1 and len(server.seen) == 2


@pytest.mark.parametrize(
    ("header", "wait"),
    [
        ("7", 7.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (None, 60.0),
    ],
)
async def test_429_is_rate_limited_with_retry_after(
    server: Server, ctx: PlatformContext, header: str | None, wait: float
) -> None:
    async def handler(request: web.Request, body: bytes) -> web.Response:
        headers = {"Retry-After": header} if header else {}
        return web.json_response({"message": "slow down"}, status=429, headers=headers)

    server.handler = handler
    with pytest.raises(RateLimited) as caught:
        await api(ctx).request("GET", "/x", action="read")
    assert caught.value.retry_after == wait
    assert caught.value.reset_at == NOW + timedelta(seconds=wait)
    assert len(server.seen) == 1  # not retried by the SDK


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, Transient), (503, Transient), (403, Challenge), (404, Rejected), (400, Rejected)],
)
async def test_status_mapping(
    server: Server, ctx: PlatformContext, status: int, error: type[Exception]
) -> None:
    async def handler(request: web.Request, body: bytes) -> web.Response:
        return web.json_response(
            {"error": "nope", "error_description": "access_token=abc"}, status=status
        )

    server.handler = handler
    with pytest.raises(error) as caught:
        await api(ctx).request("GET", "/x", action="read")
    assert "abc" not in str(caught.value)  # bodies are redacted
    if isinstance(caught.value, Transient):
        assert caught.value.error_class == "platform"


async def test_accepted_statuses_and_redirects_come_back_as_replies(
    server: Server, ctx: PlatformContext
) -> None:
    async def handler(request: web.Request, body: bytes) -> web.Response:
        if request.path.endswith("/gone"):
            return web.Response(status=404)
        return web.Response(status=308, headers={"Location": "/elsewhere", "Range": "bytes=0-9"})

    server.handler = handler
    client = api(ctx)
    reply = await client.request("PUT", "/gone", action="put", accept=(404,))
    assert reply.status == 404
    reply = await client.request("PUT", "/x", action="put", data=b"0123456789")
    assert isinstance(reply, Reply) and reply.status == 308
    assert reply.headers["range"] == "bytes=0-9"  # case-insensitive
    assert [s[1] for s in server.seen] == ["/demo/gone", "/demo/x"]  # no redirect followed


async def test_lost_answers_are_transient_or_outcome_unknown(
    server: Server, ctx: PlatformContext
) -> None:
    async def handler(request: web.Request, body: bytes) -> web.Response:
        assert request.transport is not None
        request.transport.close()  # the request arrived; its answer never leaves
        return web.Response()

    server.handler = handler
    client = api(ctx)
    with pytest.raises(Transient) as caught:
        await client.request("GET", "/x", action="read")
    assert caught.value.error_class == "network"
    with pytest.raises(OutcomeUnknown, match="reconcile"):
        await client.request("POST", "/x", action="create", idempotent=False)


async def test_refused_connection_and_timeout_are_network_errors(
    server: Server, ctx: PlatformContext
) -> None:
    never = asyncio.Event()

    async def handler(request: web.Request, body: bytes) -> web.Response:
        await never.wait()
        return web.Response()

    server.handler = handler
    client = api(ctx)
    try:
        with pytest.raises(Transient) as caught:
            await client.request("GET", "/x", action="read", time_limit=0.2)
    finally:
        never.set()  # let the server's handler end
    assert caught.value.error_class == "network"
    closed = "http://127.0.0.1:9/x"  # nothing listens: the request never left
    with pytest.raises(Transient) as refused:
        await client.request("POST", closed, action="create", idempotent=False)
    assert refused.value.error_class == "network"


# ------------------------------------------------------------------ upload loop


class Session:
    def __init__(self, resume: dict[str, Any] | None = None) -> None:
        self.resume_state = resume
        self.saved: list[dict[str, Any]] = []
        self.progressed: list[int] = []

    async def save_state(self, state: Any) -> None:
        self.saved.append(dict(state))

    def progress(self, sent: int, total: int) -> None:
        self.progressed.append(sent)


@dataclass
class Receiver:
    """Keeps chunks in order; ``keep`` bytes of each at most; ``reset_at`` drops one."""

    data: bytearray = field(default_factory=bytearray)
    received: int = 0
    keep: int | None = None
    reset_on: int | None = None  # the n-th PUT (1-based) loses its answer
    puts: int = 0

    async def handle(self, request: web.Request, body: bytes) -> web.Response:
        if request.method == "GET":  # the status query
            return web.json_response({"received": len(self.data)})
        self.puts += 1
        self.received += len(body)
        match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", request.headers["Content-Range"])
        assert match and int(match.group(1)) == len(self.data)
        self.data += body[: self.keep] if self.keep else body
        if self.puts == self.reset_on:
            assert request.transport is not None
            request.transport.close()
        return web.json_response({"received": len(self.data)})


async def run_upload(
    ctx: PlatformContext, path: Path, session: Session, offset: int = 0, chunk: int = 3000
) -> int:
    client = api(ctx)
    total = 10_000  # the test files' size

    async def send(c: Chunk) -> int:
        reply = await client.json(
            "PUT", "/up", action="chunk", headers=c.headers("video/mp4"), data=c.body()
        )
        return int(reply["received"])

    async def checkpoint() -> int | None:
        return int((await client.json("GET", "/up", action="status"))["received"])

    return await upload_chunks(
        session,
        path,
        total=total,
        offset=offset,
        chunk_length=lambda at: min(chunk, total - at),
        send=send,
        state=lambda at: {"offset": at},
        checkpoint=checkpoint,
        piece=1024,
    )


async def test_upload_follows_the_server_offset_and_saves_after_each_ack(
    server: Server, ctx: PlatformContext, tmp_path: Path
) -> None:
    receiver = Receiver(keep=2000)  # the server keeps 2000 of every 3000 bytes sent
    server.handler = receiver.handle
    path = tmp_path / "v.bin"
    path.write_bytes(os.urandom(10_000))
    session = Session()
    assert await run_upload(ctx, path, session) == 10_000
    assert bytes(receiver.data) == path.read_bytes()
    assert [s["offset"] for s in session.saved] == [2000, 4000, 6000, 8000, 10_000]
    assert session.progressed[-1] == 10_000
    assert all(0 < p <= 10_000 for p in session.progressed)


async def test_upload_resumes_from_the_checkpointed_offset(
    server: Server, ctx: PlatformContext, tmp_path: Path
) -> None:
    receiver = Receiver(reset_on=3)
    server.handler = receiver.handle
    path = tmp_path / "v.bin"
    path.write_bytes(os.urandom(10_000))
    first = Session()
    with pytest.raises(Transient):
        await run_upload(ctx, path, first)
    # the third chunk landed though its answer was lost: the checkpoint saved 9000
    assert first.saved[-1] == {"offset": 9000}
    second = Session(first.saved[-1])
    await run_upload(ctx, path, second, offset=second.resume_state["offset"])  # type: ignore[index]
    assert hashlib.sha256(receiver.data).digest() == hashlib.sha256(path.read_bytes()).digest()
    assert receiver.received == 10_000  # nothing sent twice


# ---------------------------------------------------------------- token parsing


def test_token_response_variants() -> None:
    tiktok = parse_token_response(
        {
            "access_token": "a", "refresh_token": "r", "expires_in": 7200,
            "refresh_expires_in": "86400", "scope": "video.list,video.upload",
            "open_id": "o-1", "token_type": "Bearer", "id_token": "jwt",
        },
        now=NOW,
    )  # fmt: skip
    assert tiktok.expires_at == NOW + timedelta(hours=2)
    assert tiktok.refresh_expires_at == NOW + timedelta(days=1)
    assert tiktok.scopes == ("video.list", "video.upload")
    assert tiktok.extra == {"open_id": "o-1"}  # no id_token, no token_type

    google = parse_token_response(
        {"access_token": "b", "scope": "s1 s2"}, now=NOW, previous=tiktok, default_expires_in=3599
    )
    assert google.refresh_token == "r" and google.refresh_expires_at == tiktok.refresh_expires_at
    assert google.expires_at == NOW + timedelta(seconds=3599)
    assert google.scopes == ("s1", "s2") and google.extra == {"open_id": "o-1"}

    rotated = parse_token_response(
        {"access_token": "c", "refresh_token": "r2"}, now=NOW, previous=tiktok
    )
    assert rotated.refresh_token == "r2" and rotated.refresh_expires_at is None
    assert rotated.scopes == tiktok.scopes

    absolute = parse_token_response(
        {"access_token": "d", "expires_at": 1_780_000_000, "scopes": ["x"],
         "refresh_token_expires_in": 60},
        now=NOW,
    )  # fmt: skip
    assert absolute.expires_at == datetime.fromtimestamp(1_780_000_000, tz=UTC)
    assert absolute.refresh_expires_at == NOW + timedelta(seconds=60)
    assert absolute.scopes == ("x",)
    iso = parse_token_response({"access_token": "e", "expires_at": "2026-03-02T00:00:00Z"}, now=NOW)
    assert iso.expires_at == datetime(2026, 3, 2, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_token_response({"token_type": "Bearer"}, now=NOW)


async def test_authorization_code_grant_url_and_exchange(
    server: Server, ctx: PlatformContext
) -> None:
    from urllib.parse import parse_qs, urlsplit

    from pellacia.contract import AuthKind, OAuthClient
    from pellacia.sdk import AuthorizationCodeGrant, TokenEndpoint

    class Flow(AuthorizationCodeGrant):
        authorize_base = "https://example.invalid"
        authorize_path = "/oauth/authorize"
        authorize_params = {"access_type": "offline"}

    forms: list[dict[str, str]] = []

    async def handler(request: web.Request, body: bytes) -> web.Response:
        forms.append({k: v[0] for k, v in parse_qs(body.decode()).items()})
        return web.json_response({"access_token": "a1", "refresh_token": "r1", "expires_in": 60})

    server.handler = handler
    flow = Flow(TokenEndpoint("https://example.invalid", "/token", "Demo"), ("read", "write"))
    client = OAuthClient("cid", "secret")
    url = flow.authorization_url(
        ctx, client=client, redirect_uri="http://127.0.0.1:9/cb", state="s", code_challenge="c"
    )
    parts = urlsplit(url)
    assert parts.path == "/demo/oauth/authorize" and "scope=read%20write" in parts.query
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["code_challenge_method"] == "S256" and query["access_type"] == "offline"
    assert flow.kind is AuthKind.AUTHORIZATION_CODE
    tokens = await flow.exchange_code(
        ctx, client=client, code="k", redirect_uri="http://127.0.0.1:9/cb", code_verifier="v"
    )
    assert (tokens.access_token, tokens.refresh_token) == ("a1", "r1")
    assert forms == [
        {
            "grant_type": "authorization_code",
            "code": "k",
            "redirect_uri": "http://127.0.0.1:9/cb",
            "code_verifier": "v",
            "client_id": "cid",
            "client_secret": "secret",
        }
    ]


def test_poll_delays_start_soon_then_double_up_to_the_interval() -> None:
    waits = poll_delays(5.0)
    assert [next(waits) for _ in range(7)] == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert [next(w) for w in [poll_delays(0.0)] * 3] == [0.0, 0.0, 0.0]  # tests poll at once
    assert next(poll_delays(0.1)) == 0.1  # an interval below the first wait caps it
