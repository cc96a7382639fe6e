"""tweepy, a real X client, signs in, uploads and posts against the sandbox's X fake.

tweepy builds ``https://api.twitter.com`` / ``https://upload.twitter.com`` URLs
itself; a requests transport adapter sends them to the fake on 127.0.0.1
instead, and everything else (OAuth 2.0 PKCE through requests-oauthlib, the
chunked INIT/APPEND/FINALIZE/STATUS upload, ``create_tweet``, lookups) is
tweepy's own code. Its calls block, so they run in a thread while the fake
serves on the test's event loop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pellacia_sandbox.fakes.twitter import TwitterFake
from pellacia_sandbox.host import SandboxHost

from .conftest import sha256, write_file

tweepy = pytest.importorskip("tweepy")
requests = pytest.importorskip("requests")

X_HOSTS = ("api.twitter.com", "upload.twitter.com", "twitter.com", "api.x.com", "x.com")


class ToSandbox(requests.adapters.HTTPAdapter):  # type: ignore[misc]
    """Sends X's https URLs to the sandbox's fake (loopback only, never out)."""

    def __init__(self, sandbox_url: str) -> None:
        super().__init__()
        self.sandbox_url = sandbox_url

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(request.url)
        assert parts.hostname in X_HOSTS, f"tweepy called {parts.hostname}"
        query = f"?{parts.query}" if parts.query else ""
        request.url = f"{self.sandbox_url}/twitter{parts.path}{query}"
        return super().send(request, *args, **kwargs)


def routed(session: Any, sandbox_url: str) -> Any:
    session.mount("https://", ToSandbox(sandbox_url))
    return session


def sign_in(sandbox_url: str) -> dict[str, Any]:
    """tweepy's OAuth 2.0 authorization code + PKCE, the consent page auto-approving."""
    handler = tweepy.OAuth2UserHandler(
        client_id="sandbox-client",
        redirect_uri="https://127.0.0.1/callback",
        scope=["tweet.read", "tweet.write", "users.read", "media.write", "offline.access"],
        client_secret="sandbox-secret",
    )
    routed(handler, sandbox_url)
    consent = handler.get(handler.get_authorization_url(), allow_redirects=False)
    assert consent.status_code == 302, consent.text
    token: dict[str, Any] = handler.fetch_token(consent.headers["Location"])
    return token


def upload_and_post(sandbox_url: str, token: str, clip: Path) -> tuple[Any, Any, Any]:
    api = tweepy.API(tweepy.OAuth2BearerHandler(token))
    routed(api.session, sandbox_url)
    media = api.chunked_upload(
        str(clip), file_type="video/mp4", media_category="amplify_video", chunk_size=64 * 1024
    )
    client = tweepy.Client(bearer_token=token)
    routed(client.session, sandbox_url)
    created = client.create_tweet(
        text="Posted by tweepy", media_ids=[media.media_id_string], user_auth=False
    )
    fetched = client.get_tweets(
        [created.data["id"]],
        tweet_fields=["public_metrics", "attachments"],
        expansions=["attachments.media_keys"],
        media_fields=["public_metrics"],
        user_auth=False,
    )
    return media, created, fetched


async def test_tweepy_signs_in_uploads_and_posts(
    host: SandboxHost, fake: TwitterFake, tmp_path: Path
) -> None:
    fake.configure(processing_polls=2)
    clip = write_file(tmp_path / "clip.mp4", 200_000)  # 4 APPEND segments of 64 KiB
    token = await asyncio.to_thread(sign_in, host.base_url)
    assert token["refresh_token"] and "media.write" in token["scope"]
    media, created, fetched = await asyncio.to_thread(
        upload_and_post, host.base_url, token["access_token"], clip.path
    )
    assert media.processing_info["state"] == "succeeded"
    [post] = fake.snapshot()["posts"]
    assert created.data["id"] == post["id"] and post["text"] == "Posted by tweepy"
    assert post["bytes"] == clip.size and post["sha256"] == sha256(clip.path)
    [upload] = fake.snapshot()["uploads"]
    assert upload["appends"] == 4 and upload["bytes_received"] == clip.size
    [tweet] = fetched.data
    assert tweet.public_metrics["retweet_count"] == tweet.public_metrics["repost_count"]
    assert fetched.includes["media"][0].media_key == media.media_key
    statuses = [r["status"] for r in fake.requests if r["path"] == "/1.1/media/upload.json"]
    assert statuses[:1] == [200] and statuses.count(204) == 4 and len(statuses) == 8  # 2 STATUS
