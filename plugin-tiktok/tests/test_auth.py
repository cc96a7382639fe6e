"""Login Kit flow with PKCE against the fake, refresh rotation, and secrets never shown."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
from pellacia.contract import MediaInfo, OAuthClient, PlatformContext
from pellacia.errors import AuthExpired
from pellacia_sandbox.fakes.tiktok import TikTokFake
from pellacia_tiktok.auth import SCOPES
from pellacia_tiktok.client import ChunkOutOfOrder, TikTokClient
from pellacia_tiktok.platform import TikTokPlatform

from .conftest import CHUNK, CLIENT, MemorySession, make_request

REDIRECT = "http://127.0.0.1:9/callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def authorize(
    ctx: PlatformContext, platform: TikTokPlatform, challenge: str
) -> dict[str, list[str]]:
    url = platform.auth.authorization_url(
        ctx, client=CLIENT, redirect_uri=REDIRECT, state="st-42", code_challenge=challenge
    )
    async with ctx.http.get(url, allow_redirects=False) as resp:
        assert resp.status == 302
        location = resp.headers["Location"]
    assert location.startswith(REDIRECT)
    return parse_qs(urlsplit(location).query)


async def test_code_flow_with_pkce_and_rotating_refresh(
    fake: TikTokFake, ctx: PlatformContext, platform: TikTokPlatform
) -> None:
    verifier, challenge = pkce()
    query = await authorize(ctx, platform, challenge)
    assert query["state"] == ["st-42"]
    assert query["scopes"][0].split(",") == list(SCOPES)

    tokens = await platform.auth.exchange_code(
        ctx, client=CLIENT, code=query["code"][0], redirect_uri=REDIRECT, code_verifier=verifier
    )
    assert tokens.extra["open_id"] == TikTokFake.open_id("sandbox-account")
    assert set(tokens.scopes) == set(SCOPES)
    assert tokens.expires_at is not None and tokens.refresh_expires_at is not None
    assert (tokens.expires_at - ctx.clock.now()).total_seconds() == pytest.approx(7200, abs=5)

    fresh = await platform.auth.refresh(ctx, client=CLIENT, tokens=tokens)
    assert fresh.refresh_token and fresh.refresh_token != tokens.refresh_token  # rotated, kept
    assert fresh.extra["open_id"] == tokens.extra["open_id"]
    with pytest.raises(AuthExpired):  # the old refresh token died with the rotation
        await platform.auth.refresh(ctx, client=CLIENT, tokens=tokens)


async def test_wrong_verifier_and_reused_code_are_refused(
    fake: TikTokFake, ctx: PlatformContext, platform: TikTokPlatform
) -> None:
    verifier, challenge = pkce()
    query = await authorize(ctx, platform, challenge)
    with pytest.raises(AuthExpired, match="invalid_grant"):
        await platform.auth.exchange_code(
            ctx,
            client=CLIENT,
            code=query["code"][0],
            redirect_uri=REDIRECT,
            code_verifier=verifier + "x",
        )


async def test_authorize_refuses_without_pkce_or_with_unknown_client(
    fake: TikTokFake, ctx: PlatformContext, platform: TikTokPlatform
) -> None:
    url = platform.auth.authorization_url(
        ctx,
        client=OAuthClient("stranger", "x"),
        redirect_uri=REDIRECT,
        state="s",
        code_challenge="c",
    )
    async with ctx.http.get(url, allow_redirects=False) as resp:
        assert parse_qs(urlsplit(resp.headers["Location"]).query)["error"] == ["invalid_client"]
    bad = url.replace("client_key=stranger", "client_key=sandbox-client").replace(
        "code_challenge=c&", ""
    )
    async with ctx.http.get(bad, allow_redirects=False) as resp:
        assert parse_qs(urlsplit(resp.headers["Location"]).query)["error"] == ["invalid_request"]


async def test_secrets_never_in_reprs_or_errors(
    fake: TikTokFake, ctx: PlatformContext, platform: TikTokPlatform, video: MediaInfo
) -> None:
    tokens = await ctx.tokens.current()
    secrets_seen = [tokens.access_token, tokens.refresh_token or "", CLIENT.client_secret or ""]
    texts = [repr(tokens), str(tokens), repr(CLIENT), repr(ctx), repr(ctx.tokens)]

    fake.tokens.reset()  # every token revoked: the call 401s, the refresh is refused
    with pytest.raises(AuthExpired) as refused:
        await platform.upload(make_request(video), MemorySession(), ctx)
    texts += [str(refused.value), repr(refused.value)]
    with pytest.raises(AuthExpired) as direct:
        await platform.auth.refresh(ctx, client=CLIENT, tokens=tokens)
    texts += [str(direct.value), repr(direct.value)]

    for text in texts:
        for secret in secrets_seen:
            assert secret not in text


async def test_upload_token_stays_out_of_errors(
    fake: TikTokFake, ctx: PlatformContext, platform: TikTokPlatform, video: MediaInfo
) -> None:
    receipt = await platform.upload(make_request(video), MemorySession(), ctx)
    url = receipt.state["upload_url"]
    token = parse_qs(urlsplit(url).query)["upload_token"][0]
    client = TikTokClient(ctx)
    # a chunk on a finished upload is refused; nothing raised may quote the URL
    with pytest.raises(ChunkOutOfOrder) as caught:
        await client.put_chunk(
            url, path=video.path, first=0, length=CHUNK, total=video.size, content_type="video/mp4"
        )
    assert token not in str(caught.value) and token not in repr(caught.value)
