"""Properties of the post URLs a person gives ``manual resolve`` (CLI, API, Telegram):
any text is an http(s) URL with a host or ``BadInput``; a platform's post URL
gives back the post id it was built from; and resolving a manual delivery with
any text either publishes it with that id or leaves it untouched."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pellacia.delivery.errors import BadInput
from pellacia.delivery.manual import check_post_url, remote_id_from_url, resolve
from pellacia.scheduling.testing import enqueue
from pellacia.store import deliveries as delivery_store
from pellacia.store.pool import create_pool
from pellacia.testing.fuzz import fuzz_settings

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ids = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=20
)
digits = st.text("0123456789", min_size=1, max_size=20)
handles = st.text("abcdefghijklmnopqrstuvwxyz0123456789._", min_size=1, max_size=12)
#: (the post URL a platform shows, the id in it)
platform_urls = st.one_of(
    ids.map(lambda i: (f"https://www.youtube.com/watch?v={i}", i)),
    ids.map(lambda i: (f"https://youtube.com/shorts/{i}", i)),
    ids.map(lambda i: (f"https://youtu.be/{i}", i)),
    st.tuples(handles, digits).map(
        lambda t: (f"https://www.tiktok.com/@{t[0]}/video/{t[1]}", t[1])
    ),
    ids.map(lambda i: (f"https://www.instagram.com/reel/{i}/", i)),
    digits.map(lambda i: (f"https://www.facebook.com/reel/{i}", i)),
    st.tuples(handles, digits).map(lambda t: (f"https://x.com/{t[0]}/status/{t[1]}", t[1])),
    digits.map(
        lambda i: (f"https://www.linkedin.com/feed/update/urn:li:share:{i}/", f"urn:li:share:{i}")
    ),
)
texts = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda s, rest: f"{s}{rest}",
        st.sampled_from(["http://", "https://", "HTTPS://", "ftp://"]),
        st.text(max_size=30),
    ),
    platform_urls.map(lambda pair: pair[0]),
)


@fuzz_settings(max_examples=400)
@given(text=texts)
@example(text="http:///x")  # no host: was accepted, the "post id" was "x"
@example(text="https://youtu.be/a\x00b")  # NUL: PostgreSQL cannot store it
@example(text="https://[::1/post")  # urlsplit raises ValueError
@example(text="https://example.com:port/1")
@example(text="https://example.com/\u200b")  # an invisible format character
@example(text="https://example.com/\ud800")  # a lone surrogate
def test_any_text_is_a_post_url_or_bad_input(text: str) -> None:
    try:
        url = check_post_url(text)
    except BadInput as exc:
        assert "--post-url" in str(exc)
        return
    parts = urlsplit(url)
    assert parts.scheme.lower() in ("http", "https") and parts.hostname
    assert url == text.strip() and url.isprintable() and not any(c.isspace() for c in url)
    url.encode("utf-8")
    remote = remote_id_from_url(url)
    assert remote and not any(c.isspace() for c in remote)


@fuzz_settings(max_examples=300)
@given(pair=platform_urls)
def test_a_platform_post_url_gives_back_its_id(pair: tuple[str, str]) -> None:
    url, post_id = pair
    assert check_post_url(url) == url
    assert remote_id_from_url(url) == post_id


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[Any]:
    pool = await create_pool(pg_dsn, max_size=2)
    yield pool
    await pool.close()


@fuzz_settings(max_examples=25)
@given(text=texts)
@example(text="https://youtu.be/a\x00b")  # was an asyncpg error, not bad input
async def test_resolving_publishes_with_the_id_or_changes_nothing(pool: Any, text: str) -> None:
    async with pool.acquire() as conn:
        [did] = await enqueue(conn, platforms=[("youtube", "news")], due_at=T0, state="manual")
    try:
        remote = await resolve(pool, did, post_url=text, at=T0)
    except BadInput:
        async with pool.acquire() as conn:
            row = await delivery_store.get(conn, did)
        assert row is not None and row["state"] == "manual" and row["remote_id"] is None
        return
    async with pool.acquire() as conn:
        row = await delivery_store.get(conn, did)
    assert row is not None and row["state"] == "published"
    assert row["remote_id"] == remote == remote_id_from_url(text.strip())
