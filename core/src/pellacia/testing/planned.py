"""Conformance for a platform whose client is not written yet (``PlannedPlatform``):
every operation must raise ``Unsupported`` naming the platform and the
distribution, never succeed and never fail with anything else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pellacia.contract import (
    MediaInfo,
    OAuthClient,
    Platform,
    PlatformContext,
    PublishRequest,
    RemotePost,
    TokenSet,
    UploadReceipt,
)
from pellacia.errors import ErrorClass, Unsupported
from pellacia.oauth_login import Credentials, sign_in
from pellacia.tokens import StaticTokenSource


async def assert_every_operation_unsupported(
    platform: Platform, distribution: str, video: MediaInfo
) -> None:
    """Call each operation of ``platform`` and check the ``Unsupported`` it raises."""
    from pellacia.clock import FakeClock
    from pellacia.http import client_session

    async with client_session() as http:
        ctx = PlatformContext(
            platform=platform.name,
            account="a",
            http=http,
            tokens=StaticTokenSource(TokenSet(access_token="never-used")),
            clock=FakeClock(),
        )
        request = PublishRequest(
            delivery_id="d1",
            idempotency_key="k1",
            platform=platform.name,
            account="a",
            video=video,
            title="t",
        )
        receipt = UploadReceipt(remote_id=None)
        client = OAuthClient("id")
        # made one at a time: a failed check leaves no coroutine un-awaited
        calls: list[Callable[[], Awaitable[Any]]] = [
            lambda: platform.upload(request, _NoSession(), ctx),
            lambda: platform.publish(request, receipt, ctx),
            lambda: platform.reconcile(request, receipt, ctx),
            lambda: platform.fetch_metrics([RemotePost(remote_id="1")], ctx),
            # whatever kind the flow declares, signing in goes through it
            lambda: sign_in(platform, ctx, client, credentials=_ANY, open_url=_never),
            lambda: platform.auth.refresh(ctx, client=client, tokens=TokenSet(access_token="x")),
        ]
        for call in calls:
            _check(await _raised(call()), platform.name, distribution)


#: something for every credential a sign-in kind may ask
_ANY = Credentials(username="u", password="p", api_key="k", token="t")


def _never(url: str) -> None:
    raise AssertionError(f"a planned platform must not send anyone to a consent page: {url}")


class _NoSession:
    resume_state: Mapping[str, Any] | None = None

    async def save_state(self, state: Mapping[str, Any]) -> None:
        raise AssertionError("a planned platform must not upload anything")

    def progress(self, sent: int, total: int) -> None:
        raise AssertionError("a planned platform must not upload anything")


async def _raised(call: Awaitable[Any]) -> Unsupported:
    try:
        result = await call
    except Unsupported as exc:
        return exc
    raise AssertionError(f"expected Unsupported, the call returned {result!r}")


def _check(exc: Unsupported, platform: str, distribution: str) -> None:
    assert exc.error_class is ErrorClass.UNSUPPORTED
    assert exc.platform == platform, (exc.platform, platform)
    assert f"not implemented yet in {distribution}" in str(exc), str(exc)
    assert "falls through to the next layer" in str(exc), str(exc)
