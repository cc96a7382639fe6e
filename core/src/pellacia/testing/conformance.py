"""The platform conformance kit: scenarios every platform plugin must pass.

A plugin's tests subclass ``PlatformConformance`` and say where its protocol
puts the chunk transfer and the publish call (regexes on the path after
``/<platform>`` in the sandbox)::

    from pellacia.testing.conformance import PlatformConformance

    class TestExampleConformance(PlatformConformance):
        platform_name = "example"
        chunk_path = r"^/v1/uploads/[^/]+$"
        chunk_method = "PUT"
        publish_path = r"^/v1/posts$"
        publish_method = "POST"
        settings = {"chunk_size": 16 * 1024}

A platform whose upload itself creates the post (no publish call) says so
instead of naming a publish path::

    class TestPeerTubeConformance(PlatformConformance):
        platform_name = "peertube"
        chunk_path = r"^/api/v1/videos/upload-resumable$"
        chunk_method = "PUT"
        upload_creates_post = True  # the last chunk's answer (publish_status) is the post
        publish_status = (200,)
        publish_idempotent = True  # a repeated upload returns the video it made

Every scenario signs in through the flow the platform declares, runs the
plugin over real HTTP against the platform's fake in the sandbox (the
sandbox's own, or one a plugin registers with ``register_fakes``) and asserts
what the fake observed (posts, bytes, requests). No scenario needs
overriding: the class attributes below are the knobs. Needs pytest-asyncio
(the tests are ``async``) and pellacia-dist-sandbox.
"""

from __future__ import annotations

import asyncio
import random
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest

from pellacia.contract import (
    MediaInfo,
    MediaRules,
    Platform,
    PublishRequest,
    RemotePost,
    UploadReceipt,
)
from pellacia.errors import (
    MediaError,
    OutcomeUnknown,
    PlatformError,
    RateLimited,
    Rejected,
)
from pellacia.testing.context import KitContext, open_platform_context
from pellacia.testing.sandbox import SandboxHandle
from pellacia.testing.sessions import MemoryUploadSession

#: no scenario may take longer than this (a hang is a failure, not a stuck suite)
SCENARIO_TIMEOUT_S = 60.0

try:  # the kit's tests are async; mark them for pytest-asyncio in any mode
    import pytest_asyncio  # noqa: F401

    _asyncio = pytest.mark.asyncio
except ModuleNotFoundError:  # pragma: no cover - without it the tests report a clear failure
    _asyncio = pytest.mark.usefixtures()


def _matches(request: Mapping[str, Any], path: str, method: str | None) -> bool:
    if method is not None and request.get("method") != method:
        return False
    return re.search(path, str(request.get("path", ""))) is not None


class PlatformConformance:
    """Scenarios for one platform; subclass and set the class attributes below."""

    #: the platform's name (as registered by its plugin and served by the sandbox)
    platform_name: ClassVar[str] = ""
    #: regex (searched in the path after /<platform>) of the call carrying media bytes
    chunk_path: ClassVar[str] = ""
    chunk_method: ClassVar[str | None] = None
    #: regex of the call that makes the post exist (the one whose answer can be lost)
    publish_path: ClassVar[str] = ""
    publish_method: ClassVar[str | None] = None
    #: regex of the call a 429 is injected on (default: the chunk transfer)
    rate_limit_path: ClassVar[str | None] = None
    rate_limit_method: ClassVar[str | None] = None
    #: plugin settings for the context (e.g. a small chunk size so clips span chunks)
    settings: ClassVar[Mapping[str, Any]] = {}
    #: ``make_video`` arguments of the clip every scenario posts (must span >= 2 chunks)
    video_kwargs: ClassVar[Mapping[str, Any]] = {"seconds": 2.0, "width": 320, "height": 240}
    #: file name of that clip (its suffix picks the container)
    video_name: ClassVar[str] = "clip.mp4"
    #: ``make_video`` arguments (plus "name") of a clip the media rules refuse;
    #: None picks one from ``media_rules``
    invalid_video: ClassVar[Mapping[str, Any] | None] = None
    #: the announced Retry-After reaches RateLimited (False: the platform has no such header)
    rate_limit_exact: ClassVar[bool] = True
    #: the upload itself creates the post (no separate publish call): the call whose
    #: answer is lost is then the upload's last request, and ``publish_path`` and
    #: ``publish_method`` default to the chunk's
    upload_creates_post: ClassVar[bool] = False
    #: when the upload creates the post, the statuses of the answer that does it (the
    #: final chunk's; the chunks before it answer something else, e.g. 308)
    publish_status: ClassVar[tuple[int, ...]] = (200, 201)
    #: sending the publish call again (or the last chunk, when the upload creates the
    #: post) returns the post it already made instead of a second one
    publish_idempotent: ClassVar[bool] = False
    #: what the kit signs in with, for auth kinds that take more than a consent page:
    #: "username" (default: ``account``), "password", "api_key", "token"; the
    #: defaults are in ``pellacia.testing.context.SANDBOX_CREDENTIALS``
    credentials: ClassVar[Mapping[str, str]] = {}
    #: the account's ``base_url`` in the context (a federated platform's instance;
    #: against the sandbox ``ctx.endpoint()`` is the fake whatever it says)
    base_url: ClassVar[str | None] = None
    account: ClassVar[str] = "sandbox-account"

    # ------------------------------------------------------------- hooks

    def make_platform(self) -> Platform:
        """The platform under test (default: the one the installed plugins registered)."""
        from pellacia.plugins import get_registry

        return get_registry().platform(self.platform_name)

    def make_request(self, video: MediaInfo, n: int = 0, **overrides: Any) -> PublishRequest:
        """The publish request of the n-th post of a scenario."""
        key = uuid.uuid4().hex
        fields: dict[str, Any] = {
            "delivery_id": f"d-{key[:12]}",
            "idempotency_key": key,
            "platform": self.platform_name,
            "account": self.account,
            "video": video,
            "title": f"Conformance clip {n} {key[:6]}",
            "description": f"Posted by the pellacia-dist conformance kit ({n}).",
            "hashtags": ("#news",),
        }
        fields.update(overrides)
        return PublishRequest(**fields)

    def invalid_video_spec(self, rules: MediaRules) -> dict[str, Any] | None:
        """``make_video`` arguments (plus "name") of a clip breaking ``rules``.

        None when no generated clip can break them (a platform taking every
        container and codec): the scenario then breaks ``max_title_chars``.
        """
        if self.invalid_video is not None:
            return dict(self.invalid_video)
        if rules.containers and "matroska" not in rules.containers:
            return {"name": "bad.mkv", "seconds": 1.0}
        if rules.min_side and rules.min_side > 32:
            return {"name": "bad.mp4", "seconds": 1.0, "width": 32, "height": 32}
        if rules.video_codecs and "mpeg4" not in rules.video_codecs:
            return {"name": "bad.mp4", "seconds": 1.0, "codec": "mpeg4"}
        return None

    # ----------------------------------------------------------- helpers

    def publish_call(self) -> tuple[str, str | None]:
        """``(path regex, method)`` of the call whose answer can be lost."""
        if self.publish_path:
            return self.publish_path, self.publish_method
        if self.upload_creates_post:
            return self.chunk_path, self.chunk_method
        raise AssertionError(f"{type(self).__name__} must set publish_path")

    @pytest.fixture
    def _checked(self, sandbox: SandboxHandle) -> SandboxHandle:
        for attr in ("platform_name", "chunk_path"):
            if not getattr(self, attr):
                raise AssertionError(f"{type(self).__name__} must set {attr}")
        self.publish_call()
        sandbox.require(self.platform_name)
        return sandbox

    @asynccontextmanager
    async def signed_in(self, sandbox: SandboxHandle) -> AsyncIterator[KitContext]:
        """A fresh fake (no posts, no faults) and a context signed in to it."""
        await sandbox.control.clear_faults()
        await sandbox.control.reset(self.platform_name)
        try:
            async with open_platform_context(
                self.make_platform(),
                sandbox.base_url,
                account=self.account,
                settings=self.settings,
                credentials=self.credentials,
                base_url=self.base_url,
                # the fake's clock: a test that moved it ahead moves the client too,
                # as client and platform share real time outside the sandbox
                clock=sandbox.host.clock,
            ) as kit:
                yield kit
        finally:
            await sandbox.control.clear_faults()

    async def video(self, tmp_path: Path, name: str | None = None, **kwargs: Any) -> MediaInfo:
        """A generated clip, probed."""
        from pellacia.media import probe
        from pellacia.testing.videos import make_video

        spec = {**self.video_kwargs, **kwargs}
        path = await asyncio.to_thread(make_video, tmp_path / (name or self.video_name), **spec)
        return await asyncio.to_thread(probe, path)

    async def state(self, sandbox: SandboxHandle) -> dict[str, Any]:
        result: dict[str, Any] = await sandbox.control.state(self.platform_name)
        return result

    def chunk_requests(self, state: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [r for r in state["requests"] if _matches(r, self.chunk_path, self.chunk_method)]

    async def publish_one(self, kit: KitContext, request: PublishRequest) -> RemotePost:
        session = MemoryUploadSession()
        receipt = await kit.platform.upload(request, session, kit.ctx)
        return await kit.platform.publish(request, receipt, kit.ctx)

    @staticmethod
    def post_text(post: Mapping[str, Any]) -> str:
        return f"{post.get('title') or ''}\n{post.get('caption') or ''}"

    # ---------------------------------------------------------- scenarios

    @_asyncio
    async def test_happy_path(self, _checked: SandboxHandle, tmp_path: Path) -> None:
        """upload -> publish: exactly one post, right title, remote id returned."""
        async with asyncio.timeout(SCENARIO_TIMEOUT_S), self.signed_in(_checked) as kit:
            video = await self.video(tmp_path)
            request = self.make_request(video)
            session = MemoryUploadSession()
            receipt = await kit.platform.upload(request, session, kit.ctx)
            assert session.saved, "upload() never saved resume state"
            assert session.progress_calls, "upload() never reported progress"
            assert session.progress_calls[-1] == (video.size, video.size)
            post = await kit.platform.publish(request, receipt, kit.ctx)
            assert post.remote_id
            state = await self.state(_checked)
            assert len(state["posts"]) == 1, state["posts"]
            remote = state["posts"][0]
            assert request.title in self.post_text(remote)
            assert remote.get("bytes") == video.size
            assert post.remote_id in {str(v) for v in remote.values()}
            assert len(self.chunk_requests(state)) >= 2, (
                f"the clip ({video.size} bytes) went in fewer than 2 chunks: lower the "
                "chunk size in `settings` or enlarge `video_kwargs` so resume is tested"
            )

    @_asyncio
    async def test_resume_after_connection_reset(
        self, _checked: SandboxHandle, tmp_path: Path
    ) -> None:
        """A reset mid-chunk raises a retryable error; the retry goes on, not from zero."""
        seed = random.randrange(1 << 30)
        rng = random.Random(seed)
        async with asyncio.timeout(SCENARIO_TIMEOUT_S), self.signed_in(_checked) as kit:
            video = await self.video(tmp_path)
            request = self.make_request(video)
            after = rng.randint(1, max(1, min(video.size // 4, 64 * 1024)))
            await _checked.control.add_fault(
                self.platform_name,
                "reset",
                method=self.chunk_method,
                path=self.chunk_path,
                skip=1,  # the first chunk is acknowledged: it must not be sent again
                # every later chunk, until cleared: aiohttp itself retries an idempotent
                # request once when a reused connection drops, which must not hide it
                times=None,
                after_bytes=after,
            )
            first = MemoryUploadSession()
            with pytest.raises(PlatformError) as failure:
                await kit.platform.upload(request, first, kit.ctx)
            await _checked.control.clear_faults()
            assert failure.value.retryable, f"seed {seed}: {failure.value!r} is not retryable"
            assert first.saved, f"seed {seed}: no resume state saved before the reset"
            second = first.resumed()
            receipt = await kit.platform.upload(request, second, kit.ctx)
            await kit.platform.publish(request, receipt, kit.ctx)
            state = await self.state(_checked)
            assert len(state["posts"]) == 1
            assert state["posts"][0].get("bytes") == video.size, f"seed {seed}"
            assert len(state["uploads"]) == 1, (
                f"seed {seed}: the retry opened a new upload instead of resuming the first"
            )
            received = sum(int(u.get("bytes_received", 0)) for u in state["uploads"])
            assert received < 2 * video.size, (
                f"seed {seed}: the fake received {received} bytes for a {video.size}-byte "
                "clip: acknowledged chunks were sent again"
            )
            if state["posts"][0].get("sha256"):
                from pellacia.media import sha256_file

                assert state["posts"][0]["sha256"] == sha256_file(video.path)

    @_asyncio
    async def test_token_expiry_mid_upload(self, _checked: SandboxHandle, tmp_path: Path) -> None:
        """Tokens die after the first chunk: the upload refreshes once and completes."""
        expired = False

        async def expire_after_first_chunk(_: Mapping[str, Any]) -> None:
            nonlocal expired
            if expired:
                return
            chunks = self.chunk_requests(await self.state(_checked))
            if any(r.get("status") is not None and r["status"] < 400 for r in chunks):
                await _checked.control.expire_tokens(self.platform_name)
                expired = True

        async with asyncio.timeout(SCENARIO_TIMEOUT_S), self.signed_in(_checked) as kit:
            video = await self.video(tmp_path)
            request = self.make_request(video)
            session = MemoryUploadSession(on_save=expire_after_first_chunk)
            receipt = await kit.platform.upload(request, session, kit.ctx)
            assert expired, "the upload never saved state after an acknowledged chunk"
            await kit.platform.publish(request, receipt, kit.ctx)
            assert kit.tokens.refreshes == 1, f"{kit.tokens.refreshes} refreshes, expected 1"
            state = await self.state(_checked)
            assert len(state["posts"]) == 1
            assert state["posts"][0].get("bytes") == video.size

    @_asyncio
    async def test_rate_limit_is_typed(self, _checked: SandboxHandle, tmp_path: Path) -> None:
        """A 429 becomes RateLimited with when to come back, and nothing is posted."""
        retry_after = 37
        async with asyncio.timeout(SCENARIO_TIMEOUT_S), self.signed_in(_checked) as kit:
            video = await self.video(tmp_path)
            request = self.make_request(video)
            await _checked.control.add_fault(
                self.platform_name,
                "rate_limit",
                method=self.rate_limit_method or self.chunk_method,
                path=self.rate_limit_path or self.chunk_path,
                times=None,
                retry_after=retry_after,
            )
            before = kit.ctx.clock.now()
            with pytest.raises(RateLimited) as limited:
                await self.publish_one(kit, request)
            error = limited.value
            assert error.retry_after is not None or error.reset_at is not None
            if error.retry_after is not None:
                assert error.retry_after > 0
                if self.rate_limit_exact:
                    assert abs(error.retry_after - retry_after) <= 2, error.retry_after
            if error.reset_at is not None and self.rate_limit_exact:
                wait = (error.reset_at - before).total_seconds()
                assert retry_after - 2 <= wait <= retry_after + 5, wait
            state = await self.state(_checked)
            assert state["posts"] == []
            hits = [r for r in state["requests"] if r.get("fault") == "rate_limit"]
            assert len(hits) == 1, f"the plugin retried a 429 by itself {len(hits) - 1} times"

    @_asyncio
    async def test_server_error_is_retryable(self, _checked: SandboxHandle, tmp_path: Path) -> None:
        """5xx on every chunk: a retryable error (not a success, not a final failure)."""
        async with asyncio.timeout(SCENARIO_TIMEOUT_S), self.signed_in(_checked) as kit:
            video = await self.video(tmp_path)
            request = self.make_request(video)
            await _checked.control.add_fault(
                self.platform_name,
                "server_error",
                method=self.chunk_method,
                path=self.chunk_path,
                times=None,
            )
            with pytest.raises(PlatformError) as failed:
                await self.publish_one(kit, request)
            assert failed.value.retryable, f"{failed.value!r} is not retryable"
            assert (await self.state(_checked))["posts"] == []

    @_asyncio
    async def test_lost_publish_response_reconciles(
        self, _checked: SandboxHandle, tmp_path: Path
    ) -> None:
        """The post is made but its answer lost: the error says so, reconcile finds it,
        no duplicate, and another delivery's reconcile finds nothing."""
        async with asyncio.timeout(SCENARIO_TIMEOUT_S), self.signed_in(_checked) as kit:
            video = await self.video(tmp_path)
            request = self.make_request(video)
            session = MemoryUploadSession()
            if self.upload_creates_post:
                receipt = await self._lose_last_chunk_answer(_checked, kit, request, session)
            else:
                receipt = await self._lose_publish_answer(_checked, kit, request, session)
            state = await self.state(_checked)
            assert [r for r in state["requests"] if r.get("fault") == "lose_response"], (
                "the publish call never matched publish_path/publish_method (or, when the "
                "upload creates the post, never answered with publish_status): no answer was lost"
            )
            assert len(state["posts"]) == 1, (
                "the call whose answer was lost did not create the post"
            )
            ids = {str(v) for v in state["posts"][0].values()}
            found = await kit.platform.reconcile(request, receipt, kit.ctx)
            assert found is not None, "reconcile did not find the post the lost answer made"
            assert found.remote_id in ids
            await self._repeat_makes_no_second_post(kit, request, session, receipt, found)
            other = self.make_request(video, n=1)
            try:
                stranger = await kit.platform.reconcile(other, None, kit.ctx)
            except OutcomeUnknown:
                stranger = None
            assert stranger is None, "reconcile claimed a post another delivery made"
            state = await self.state(_checked)
            assert len(state["posts"]) == 1, "reconcile or the repeat created a second post"

    def _check_lost(self, error: PlatformError) -> None:
        if isinstance(error, OutcomeUnknown):
            return
        assert self.publish_idempotent and error.retryable, (
            f"{error!r}: an answer lost after the call went out is OutcomeUnknown "
            "(or, when repeating the call is safe, publish_idempotent = True and a retryable error)"
        )

    async def _lose_publish_answer(
        self,
        sandbox: SandboxHandle,
        kit: KitContext,
        request: PublishRequest,
        session: MemoryUploadSession,
    ) -> UploadReceipt:
        receipt = await kit.platform.upload(request, session, kit.ctx)
        path, method = self.publish_call()
        await sandbox.control.add_fault(
            self.platform_name, "lose_response", method=method, path=path
        )
        try:  # a plugin may find out by itself (asking the platform): that is fine too
            await kit.platform.publish(request, receipt, kit.ctx)
        except PlatformError as lost:
            self._check_lost(lost)
        return receipt

    async def _lose_last_chunk_answer(
        self,
        sandbox: SandboxHandle,
        kit: KitContext,
        request: PublishRequest,
        session: MemoryUploadSession,
    ) -> UploadReceipt:
        """The upload creates the post: lose the answer of its last request.

        Returns what core hands ``reconcile`` then: the last saved upload state.
        """
        path, method = self.publish_call()
        await sandbox.control.add_fault(
            self.platform_name,
            "lose_response",
            method=method,
            path=path,
            on_status=list(self.publish_status),
        )
        try:  # a plugin may find out by itself (asking the platform): that is fine too
            return await kit.platform.upload(request, session, kit.ctx)
        except PlatformError as lost:
            self._check_lost(lost)
        return UploadReceipt(remote_id=None, state=session.last_state or {})

    async def _repeat_makes_no_second_post(
        self,
        kit: KitContext,
        request: PublishRequest,
        session: MemoryUploadSession,
        receipt: UploadReceipt,
        found: RemotePost,
    ) -> None:
        """What a retry does after the lost answer never posts twice.

        When the upload creates the post, a crash can bring the upload back
        with its saved state (core only reconciles when it saw the answer
        lost): that upload must end in the same post, or say it cannot tell.
        """
        if self.upload_creates_post:
            try:
                again = await kit.platform.upload(request, session.resumed(), kit.ctx)
            except OutcomeUnknown:
                return
            post = await kit.platform.publish(request, again, kit.ctx)
        elif self.publish_idempotent:
            post = await kit.platform.publish(request, receipt, kit.ctx)
        else:
            return  # core reconciles before any repeat: nothing more to try
        assert post.remote_id == found.remote_id, "the repeat made another post"

    @_asyncio
    async def test_metrics_batch(self, _checked: SandboxHandle, tmp_path: Path) -> None:
        """Three posts -> one snapshot each, in the unified vocabulary."""
        async with asyncio.timeout(SCENARIO_TIMEOUT_S), self.signed_in(_checked) as kit:
            video = await self.video(tmp_path)
            posts = [await self.publish_one(kit, self.make_request(video, n=n)) for n in range(3)]
            size = max(1, kit.platform.capabilities.metrics_batch_size)
            snapshots = []
            for start in range(0, len(posts), size):
                snapshots += await kit.platform.fetch_metrics(posts[start : start + size], kit.ctx)
            assert sorted(s.remote_id for s in snapshots) == sorted(p.remote_id for p in posts)
            for snapshot in snapshots:
                assert "views" in snapshot.metrics, snapshot.metrics
                assert all(value >= 0 for value in snapshot.metrics.values())

    @_asyncio
    async def test_invalid_media_refused_before_any_request(
        self, _checked: SandboxHandle, tmp_path: Path
    ) -> None:
        """A clip breaking media_rules is refused with the reasons; the fake sees nothing."""
        from pellacia.media import check_rules

        async with asyncio.timeout(SCENARIO_TIMEOUT_S), self.signed_in(_checked) as kit:
            rules = kit.platform.media_rules
            spec = self.invalid_video_spec(rules)
            if spec is not None:
                video = await self.video(tmp_path, **spec)
                request = self.make_request(video)
            elif rules.max_title_chars:
                video = await self.video(tmp_path)
                request = self.make_request(video, title="x" * (rules.max_title_chars + 1))
            else:
                raise NotImplementedError("set invalid_video: no rule the kit knows how to break")
            violations = check_rules(rules, video, title=request.title, platform=self.platform_name)
            assert violations, f"{spec} does not break {self.platform_name}'s media rules"
            seen = len((await self.state(_checked))["requests"])
            with pytest.raises((Rejected, MediaError)) as refused:
                await kit.platform.upload(request, MemoryUploadSession(), kit.ctx)
            assert str(refused.value)
            state = await self.state(_checked)
            assert state["requests"][seen:] == [], "the plugin sent a refused clip anyway"
            assert state["posts"] == []


__all__ = ["PlatformConformance"]
