"""Quota mapping (Pacific midnight, both DST sides), upload cap, refresh refusals, secrets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pellacia.errors import AuthExpired, RateLimited, Rejected
from pellacia.http import client_session
from pellacia_sandbox.host import SandboxHost
from pellacia_youtube.platform import YouTubePlatform

from .conftest import (
    CLIENT,
    Harness,
    MemorySession,
    clock_at,
    make_file,
    make_request,
)


async def harness_at(when: datetime) -> AsyncIterator[Harness]:
    async with (
        SandboxHost(only=["youtube"], clock=clock_at(when)) as host,
        client_session() as http,
    ):
        fake = host.fake("youtube")
        h = Harness(host=host, fake=fake, http=http, platform=YouTubePlatform())  # type: ignore[arg-type]
        await h.login()
        yield h


@pytest.mark.parametrize(
    ("now", "reset"),
    [
        # PDT (UTC-7): midnight Pacific is 07:00 UTC
        (datetime(2026, 7, 15, 20, 0, tzinfo=UTC), datetime(2026, 7, 16, 7, 0, tzinfo=UTC)),
        # PST (UTC-8): midnight Pacific is 08:00 UTC
        (datetime(2026, 1, 15, 20, 0, tzinfo=UTC), datetime(2026, 1, 16, 8, 0, tzinfo=UTC)),
    ],
    ids=["summer-PDT", "winter-PST"],
)
async def test_quota_exceeded_waits_until_pacific_midnight(
    now: datetime, reset: datetime, tmp_path: Path
) -> None:
    async for h in harness_at(now):
        video = make_file(tmp_path / "v.mp4", 1000)
        h.fake.configure(daily_units=2000)
        await h.platform.upload(make_request(video), MemorySession(), h.context())  # 1600 units
        with pytest.raises(RateLimited) as err:
            await h.platform.upload(
                make_request(video, idempotency_key="idem-2"), MemorySession(), h.context()
            )
        assert err.value.quota == "youtube:daily-units"
        assert err.value.reset_at is not None
        assert abs((err.value.reset_at - reset).total_seconds()) < 60
        assert "quotaExceeded" in str(err.value)
        # the fake's own day rolls over at the same instant
        h.host.clock.advance((reset - h.host.clock.now()).total_seconds() + 1)
        receipt = await h.platform.upload(
            make_request(video, idempotency_key="idem-2"), MemorySession(), h.context()
        )
        assert receipt.remote_id
        assert len(h.state()["posts"]) == 2


async def test_newer_quota_model_bucket(harness: Harness, tmp_path: Path) -> None:
    harness.fake.configure(insert_quota_model="bucket", insert_bucket=1)
    video = make_file(tmp_path / "v.mp4", 1000)
    await harness.platform.upload(make_request(video), MemorySession(), harness.context())
    assert harness.state()["quota"]["units_used"] == 0
    with pytest.raises(RateLimited):
        await harness.platform.upload(make_request(video), MemorySession(), harness.context())


async def test_upload_limit_exceeded_is_a_24h_wait(harness: Harness, tmp_path: Path) -> None:
    harness.fake.configure(daily_upload_limit=0)
    video = make_file(tmp_path / "v.mp4", 1000)
    with pytest.raises(RateLimited) as err:
        await harness.platform.upload(make_request(video), MemorySession(), harness.context())
    assert err.value.quota == "youtube:daily-uploads"
    assert err.value.retry_after == 86400


async def test_rate_limit_reason_waits_and_invalid_title_rejected(
    harness: Harness, tmp_path: Path
) -> None:
    from pellacia.errors import Transient

    video = make_file(tmp_path / "v.mp4", 1000)
    harness.host.faults.add({"platform": "youtube", "kind": "rate_limit", "method": "POST"})
    with pytest.raises(RateLimited, match="rateLimitExceeded") as err:
        await harness.platform.upload(make_request(video), MemorySession(), harness.context())
    # a short wait, not a failure that would push the post to another layer
    assert err.value.retry_after == 60 and err.value.quota is None
    harness.host.faults.add({"platform": "youtube", "kind": "server_error", "method": "POST"})
    with pytest.raises(Transient, match="503"):
        await harness.platform.upload(make_request(video), MemorySession(), harness.context())
    # the platform refuses what the local rules let through: a 4xx is Rejected
    with pytest.raises(Rejected, match="invalidTitle"):
        await harness.platform.upload(
            make_request(video, title="a <b> title"), MemorySession(), harness.context()
        )
    # and an over-long title never leaves the machine
    seen = len(harness.fake.requests)
    with pytest.raises(Rejected, match="at most 100"):
        await harness.platform.upload(
            make_request(video, title="x" * 101), MemorySession(), harness.context()
        )
    assert len(harness.fake.requests) == seen


async def test_refused_refresh_is_auth_expired_with_testing_hint(
    harness: Harness, tmp_path: Path
) -> None:
    video = make_file(tmp_path / "v.mp4", 1000)
    harness.fake.revoke_refresh_tokens()
    with pytest.raises(AuthExpired, match="7 days") as err:
        await harness.platform.upload(make_request(video), MemorySession(), harness.context())
    assert harness.state()["posts"] == []
    assert_no_secrets(harness, str(err.value))


async def test_publish_schedules_with_publish_at(harness: Harness, tmp_path: Path) -> None:
    from datetime import timedelta

    video = make_file(tmp_path / "v.mp4", 1000)
    when = (harness.host.clock.now() + timedelta(days=1)).replace(microsecond=0)
    request = make_request(video, scheduled_at=when, options={"privacy": "public"})
    receipt = await harness.platform.upload(request, MemorySession(), harness.context())
    post = await harness.platform.publish(request, receipt, harness.context())
    [video_state] = harness.state()["posts"]
    assert video_state["status"]["privacyStatus"] == "private"
    assert video_state["status"]["publishAt"] == when.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert post.published_at == when


async def test_failed_processing_is_rejected_with_reason(harness: Harness, tmp_path: Path) -> None:
    harness.fake.configure(processing_outcome="rejected", processing_polls=1)
    video = make_file(tmp_path / "v.mp4", 1000)
    request = make_request(video)
    receipt = await harness.platform.upload(request, MemorySession(), harness.context())
    with pytest.raises(Rejected, match=r"rejected.*duplicate"):
        await harness.platform.publish(request, receipt, harness.context())


def assert_no_secrets(harness: Harness, *texts: str) -> None:
    assert harness.tokens is not None
    tokens = harness.tokens._tokens
    secrets = [tokens.access_token, tokens.refresh_token, CLIENT.client_secret]
    for text in texts:
        for secret in secrets:
            assert secret and secret not in text


async def test_secrets_never_in_repr_or_errors(harness: Harness, tmp_path: Path) -> None:
    video = make_file(tmp_path / "v.mp4", 1000)
    session = MemorySession()
    receipt = await harness.platform.upload(make_request(video), session, harness.context())
    assert harness.tokens is not None
    texts = [
        repr(harness.tokens),
        repr(harness.tokens._tokens),
        repr(CLIENT),
        repr(harness.platform),
        repr(harness.platform.auth),
        repr(receipt),
        repr(harness.context()),
    ]
    # an error after a 401 the refresh cannot fix
    harness.host.faults.add(
        {"platform": "youtube", "kind": "auth", "path": "^/upload/", "times": 2}
    )
    with pytest.raises(AuthExpired) as err:
        await harness.platform.upload(make_request(video), MemorySession(), harness.context())
    texts += [str(err.value), repr(err.value)]
    # a refused code exchange
    with pytest.raises(AuthExpired) as err2:
        await harness.platform.auth.exchange_code(
            harness.context(), client=CLIENT, code="bogus", redirect_uri="x", code_verifier="y"
        )
    texts += [str(err2.value)]
    assert_no_secrets(harness, *texts)


async def test_consent_url_asks_offline_access_with_pkce(harness: Harness) -> None:
    from urllib.parse import parse_qs, urlsplit

    url = harness.platform.auth.authorization_url(
        harness.context(),
        client=CLIENT,
        redirect_uri="http://127.0.0.1:9/cb",
        state="s",
        code_challenge="c" * 43,
    )
    query = parse_qs(urlsplit(url).query)
    assert query["access_type"] == ["offline"] and query["prompt"] == ["consent"]
    assert query["code_challenge_method"] == ["S256"]
    assert set(query["scope"][0].split()) == {
        "https://www.googleapis.com/auth/youtube.upload",
        "https://www.googleapis.com/auth/youtube.readonly",
        "https://www.googleapis.com/auth/yt-analytics.readonly",
    }
    # the harness signed in through this URL: Google-style, with a refresh token
    assert harness.tokens is not None
    tokens = harness.tokens._tokens
    assert tokens.refresh_token and tokens.expires_at is not None
    lifetime = (tokens.expires_at - harness.host.clock.now()).total_seconds()
    assert 3500 < lifetime <= 3599
