"""The delivery executor: runs one claimed delivery down its fallback chain.

Guarantees (DESIGN §4):

* never published twice — the delivery is marked ``publishing`` (committed)
  before the non-idempotent publish call; whenever a publish may already have
  gone out (``outcome_unknown``, a claim found in ``publishing``, or a lost
  answer) the platform is asked first (``reconcile``); if nobody can tell, the
  delivery goes to the manual queue flagged "outcome unknown" instead of
  publishing again;
* never lost — every failure ends in a state a person or the queue acts on
  (``retry_wait`` with ``due_at``, ``failed`` with the message, ``manual`` with
  an export package, ``suspended``/``ready`` with the upload state kept);
* fenced — every write checks ``lease_owner``: a worker that lost its lease
  stops without touching the row or the platform again;
* audited — each try is a ``delivery_attempts`` row, each state change an event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pellacia.contract import (
    Alert,
    AlertLevel,
    BrowserJob,
    MediaInfo,
    Platform,
    PublishRequest,
    RemotePost,
    Route,
    RouteHandle,
    TokenSet,
    UploadReceipt,
)
from pellacia.errors import (
    AuthExpired,
    ConfigError,
    ErrorClass,
    OutcomeUnknown,
    PlatformError,
    RateLimited,
)
from pellacia.log import get_logger
from pellacia.store import deliveries as store
from pellacia.store import events
from pellacia.store.deliveries import CancelRequested, LeaseLost
from pellacia.store.models import ClaimedDelivery, DeliveryState, RunControl

if TYPE_CHECKING:
    import asyncpg

    from pellacia.alerts import AlertDispatcher
    from pellacia.clock import Clock
    from pellacia.config import Settings
    from pellacia.plugins import Registry
    from pellacia.tokens import LazyTokenSource

log = get_logger("pellacia.delivery")

#: backoff delays up to this many seconds are slept in process (lease held,
#: the worker keeps renewing it); longer ones park the delivery in retry_wait
INLINE_RETRY_MAX = 20.0

ProgressCallback = Callable[[str, int, int], None]


class _Undecidable(Exception):
    """Reconcile could not tell whether the post exists."""


class _NextLayer(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Run:
    """Mutable state of one run of one delivery."""

    claimed: ClaimedDelivery
    state: DeliveryState
    need_reconcile: bool
    receipt: UploadReceipt | None
    layer_index: int
    last_error: str | None = None
    last_error_class: str | None = None
    attempt_id: int | None = None
    bytes_sent: int = 0
    bytes_total: int = 0
    #: the latest saved resumable state: a retry in this run resumes from here
    upload_state: Mapping[str, Any] | None = None

    def reconcile_receipt(self) -> UploadReceipt | None:
        """What reconcile gets: the receipt, or the saved upload state when the
        upload's end was not seen (e.g. the last chunk's answer was lost)."""
        if self.receipt is not None:
            return self.receipt
        if self.upload_state:
            return UploadReceipt(remote_id=None, state=self.upload_state)
        return None


class _DbUploadSession:
    """``UploadSession`` backed by the delivery row (fenced on the lease)."""

    def __init__(self, executor: DeliveryExecutor, run: _Run) -> None:
        self._ex = executor
        self._run = run
        self.resume_state: Mapping[str, Any] | None = run.upload_state

    async def save_state(self, state: Mapping[str, Any]) -> None:
        self.resume_state = dict(state)
        self._run.upload_state = self.resume_state
        cancel = await self._ex._update(
            self._run,
            upload_state=dict(state),
            bytes_sent=self._run.bytes_sent,
            bytes_total=self._run.bytes_total or None,
        )
        if cancel:
            raise CancelRequested(str(self._run.claimed.id))

    def progress(self, sent: int, total: int) -> None:
        self._run.bytes_sent = sent
        self._run.bytes_total = total
        if self._ex.on_progress is not None:
            self._ex.on_progress(str(self._run.claimed.id), sent, total)


class DeliveryExecutor:
    """Runs claimed deliveries (one ``run`` call per claim).

    ``on_progress(delivery_id, sent, total)`` is called in process for every
    progress report (``upload --wait``); the database gets ``bytes_sent`` at
    every saved chunk.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        registry: Registry,
        settings: Settings,
        clock: Clock,
        *,
        worker_id: str,
        alerts: AlertDispatcher | None = None,
        on_progress: ProgressCallback | None = None,
        inline_retry_max: float = INLINE_RETRY_MAX,
    ) -> None:
        self.pool = pool
        self.registry = registry
        self.settings = settings
        self.clock = clock
        self.worker_id = worker_id
        self.alerts = alerts
        self.on_progress = on_progress
        self.inline_retry_max = inline_retry_max
        self._vault: Any = None

    # ------------------------------------------------------------------ entry

    async def run(self, claimed: ClaimedDelivery, control: RunControl) -> None:
        """Take ``claimed`` as far as it can go now; always leaves the row in a
        state that says what happens next (see the module docstring)."""
        run = _Run(
            claimed=claimed,
            state=DeliveryState.CLAIMED,
            need_reconcile=claimed.outcome_unknown
            or claimed.previous_state == DeliveryState.PUBLISHING,
            receipt=(
                UploadReceipt(remote_id=claimed.receipt.get("remote_id"), state=claimed.receipt)
                if claimed.receipt
                else None
            ),
            layer_index=claimed.layer_index,
            upload_state=claimed.upload_state,
        )
        try:
            await self._run_chain(run)
        except asyncio.CancelledError:
            await self._checkpoint_on_stop(run, control)
            raise
        except LeaseLost as exc:
            log.warning("lease lost; stopping", delivery=str(claimed.id), error=str(exc))
        except CancelRequested:
            await self._finish_attempt(run, "cancelled")
            with contextlib.suppress(LeaseLost):
                await self._transition(
                    run, DeliveryState.CANCELLED, release=True, reason="cancelled by operator"
                )

    # ------------------------------------------------------------------ chain

    async def _run_chain(self, run: _Run) -> None:
        claimed = run.claimed
        chain = self.settings.chain_for(claimed.platform)
        if claimed.is_test and not self.settings.sandbox_url:
            await self._fail(run, "a test post needs a sandbox (--sandbox), refusing to go live")
            return
        problem = self._media_problem(claimed)
        if problem:
            await self._fail(run, problem)
            return
        while run.layer_index < len(chain):
            layer = chain[run.layer_index]
            why_not = self._unavailable(layer, claimed.platform)
            if why_not is None and run.need_reconcile and layer.startswith("browser"):
                why_not = "a publish may already have gone out; a browser cannot check that"
            if why_not is not None:
                await self._skip(run, layer, why_not)
                run.layer_index += 1
                continue
            if layer == "manual":
                await self._to_manual(run)
                return
            try:
                if layer.startswith("api"):
                    await self._api_layer(run, layer)
                else:
                    await self._browser_layer(run, layer)
                return
            except _Undecidable as exc:
                run.last_error = str(exc)
                run.need_reconcile = True
                await self._to_manual(run)
                return
            except _NextLayer as exc:
                await self._event(run, "delivery.layer_failed", layer=layer, reason=exc.reason)
                run.layer_index += 1
                if run.layer_index < len(chain):
                    await self._update(run, layer_index=run.layer_index)
        await self._fail(
            run,
            f"every layer of the chain failed ({', '.join(chain)}); last error: "
            f"{run.last_error or 'none'}",
            alert_level="critical",
        )

    def _unavailable(self, layer: str, platform: str) -> str | None:
        """Why ``layer`` cannot run for ``platform`` here, or None."""
        if layer == "manual":
            return None
        if layer not in ("api", "api+vpn", "browser", "browser+vpn"):
            return f"unknown layer {layer!r} in the chain"
        if layer.startswith("api") and platform not in self.registry.platforms:
            return f"no plugin provides the {platform} API"
        if layer.startswith("browser") and not self.registry.browser_uploaders.get(platform):
            return f"no browser uploader for {platform} (install pellacia-dist-browser)"
        if layer.endswith("+vpn") and not self._vpn_routes(platform):
            return "no VPN/proxy route configured"
        if not layer.endswith("+vpn") and "direct" not in self.registry.routes:
            return "no direct route"
        return None

    def _vpn_routes(self, platform: str) -> list[Route]:
        out = []
        for route in self.registry.routes.values():
            if route.kind == "direct":
                continue
            serves = getattr(route, "serves", None)  # optional part of the Route contract
            if serves is not None and not serves(platform):
                continue
            out.append(route)
        return out

    def _route(self, layer: str, platform: str) -> Route:
        if layer.endswith("+vpn"):
            return self._vpn_routes(platform)[0]
        return self.registry.routes["direct"]

    # ------------------------------------------------------------- the tries

    async def _tries(
        self,
        run: _Run,
        layer: str,
        route: str,
        once: Callable[[], Awaitable[None]],
        refresh: Callable[[], Awaitable[TokenSet]] | None,
    ) -> None:
        """Call ``once`` until it succeeds, parks the delivery, or gives up on
        the layer (``_NextLayer``); error classes decide (DESIGN §4)."""
        claimed = run.claimed
        retry = self.settings.retry
        async with self.pool.acquire() as conn:
            tries = await store.retryable_failures(conn, claimed.id, layer)
        refreshed = False
        while True:
            await self._start_attempt(run, layer, route)
            try:
                await once()
            except PlatformError as exc:
                cls = exc.error_class
                run.last_error = str(exc)
                run.last_error_class = cls.value
                await self._finish_attempt(run, "error", exc)
                if cls in (ErrorClass.NETWORK, ErrorClass.PLATFORM):
                    tries += 1
                    if tries >= retry.tries_per_layer:
                        raise _NextLayer(f"{tries} tries failed: {exc}") from None
                    delay = min(retry.base_delay * 2 ** (tries - 1), retry.max_delay)
                    if delay <= self.inline_retry_max:
                        await self._event(
                            run, "delivery.retry", layer=layer, delay=delay, error=str(exc)
                        )
                        await self.clock.sleep(delay)
                        continue
                    await self._park(run, self.clock.now() + timedelta(seconds=delay), "retry")
                    return
                if cls == ErrorClass.AUTH:
                    if refresh is not None and not refreshed:
                        refreshed = True
                        try:
                            await refresh()
                        except PlatformError as refresh_exc:
                            run.last_error = f"{exc}; refresh failed: {refresh_exc}"
                        else:
                            continue
                    await self._alert(
                        run,
                        "critical",
                        f"{claimed.platform}/{claimed.account}: credentials refused",
                        f"{run.last_error}\nRun `pellacia-dist auth login {claimed.platform} "
                        f"--account {claimed.account}`; trying the next layer meanwhile.",
                    )
                    raise _NextLayer(f"auth: {run.last_error}") from None
                if cls == ErrorClass.RATE_LIMIT:
                    await self._rate_limited(run, exc)  # type: ignore[arg-type]
                    return
                if cls == ErrorClass.VALIDATION:
                    await self._fail(run, f"rejected by {claimed.platform}: {exc}")
                    return
                if cls == ErrorClass.CHALLENGE:
                    await self._alert(
                        run,
                        "critical",
                        f"{claimed.platform}/{claimed.account}: the platform asks for a human",
                        f"{exc}\nLayer {layer} stopped; trying the next layer.",
                    )
                    raise _NextLayer(f"challenge: {exc}") from None
                if cls == ErrorClass.UNSUPPORTED:
                    raise _NextLayer(f"unsupported: {exc}") from None
                if cls == ErrorClass.UNKNOWN_OUTCOME:
                    run.need_reconcile = True
                    await self._update(run, outcome_unknown=True)
                    tries += 1
                    if tries >= retry.tries_per_layer:
                        raise _Undecidable(str(exc)) from None
                    continue  # the next try reconciles before anything else
                raise _NextLayer(f"{cls.value}: {exc}") from None
            except _Undecidable as exc:
                run.last_error = str(exc)
                run.last_error_class = ErrorClass.UNKNOWN_OUTCOME.value
                await self._finish_attempt(run, "error")
                raise
            except (CancelRequested, asyncio.CancelledError):
                raise
            except (LeaseLost, _NextLayer):
                raise
            except Exception as exc:  # a plugin bug: never lose the delivery over it
                run.last_error = f"plugin error {type(exc).__name__}: {exc}"
                run.last_error_class = "plugin"
                await self._finish_attempt(run, "error", None)
                log.exception("plugin raised an untyped error", delivery=str(claimed.id))
                raise _NextLayer(run.last_error) from None
            else:
                await self._finish_attempt(run, "published")
                return

    async def _rate_limited(self, run: _Run, exc: RateLimited) -> None:
        from pellacia.store import quotas

        now = self.clock.now()
        until = exc.reset_at or now + timedelta(seconds=exc.retry_after or 60.0)
        until = max(until, now + timedelta(seconds=1))
        reason = f"rate-limit: {exc.quota or run.claimed.platform} until {until:%H:%M:%S} UTC"
        async with self.pool.acquire() as conn:
            await quotas.block(
                conn,
                platform=run.claimed.platform,
                account=run.claimed.account,
                until=until,
                reason=reason,
            )
        await self._park(run, until, reason)

    # ---------------------------------------------------------------- layers

    async def _api_layer(self, run: _Run, layer: str) -> None:
        claimed = run.claimed
        platform = self.registry.platforms[claimed.platform]
        route = self._route(layer, claimed.platform)
        from pellacia.http import client_session
        from pellacia.tokens import platform_context

        async with route.open() as handle, client_session(proxy=handle.proxy) as http:
            tokens = self._token_source(platform, claimed.account)
            ctx = platform_context(
                platform,
                account=claimed.account,
                http=http,
                tokens=tokens,
                clock=self.clock,
                settings=self.settings.plugins.get(claimed.platform, {}),
                sandbox_url=self.settings.sandbox_url,
                route=handle.name,
            )
            request = self._request(claimed)

            async def once() -> None:
                await self._api_once(run, layer, handle, platform, request, ctx)

            await self._tries(run, layer, handle.name, once, tokens.refresh)

    async def _api_once(
        self,
        run: _Run,
        layer: str,
        handle: RouteHandle,
        platform: Platform,
        request: PublishRequest,
        ctx: Any,
    ) -> None:
        if run.need_reconcile:
            try:
                found = await platform.reconcile(request, run.reconcile_receipt(), ctx)
            except OutcomeUnknown as exc:
                raise _Undecidable(f"outcome unknown — check before reposting ({exc})") from None
            if found is not None:
                await self._published(run, found, via="reconcile")
                return
            run.need_reconcile = False
            await self._update(run, outcome_unknown=False)
            await self._event(run, "delivery.reconciled", found=False)
        if run.receipt is None:
            if run.state != DeliveryState.UPLOADING:
                await self._transition(
                    run, DeliveryState.UPLOADING, honour_cancel=True, event={"layer": layer}
                )
            session = _DbUploadSession(self, run)
            receipt = await platform.upload(request, session, ctx)
            run.receipt = receipt
            stored = {"remote_id": receipt.remote_id, **dict(receipt.state)}
            if await self._update(
                run,
                receipt=stored,
                bytes_sent=request.video.size,
                bytes_total=request.video.size,
            ):
                raise CancelRequested(str(run.claimed.id))
        if run.state != DeliveryState.PUBLISHING:
            # committed before the non-idempotent call: a crash from here on reconciles
            await self._transition(run, DeliveryState.PUBLISHING, honour_cancel=True)
        try:
            post = await platform.publish(request, run.receipt, ctx)
        except OutcomeUnknown:
            run.need_reconcile = True
            raise
        await self._published(run, post)

    async def _browser_layer(self, run: _Run, layer: str) -> None:
        claimed = run.claimed
        uploader = self.registry.browser_uploaders[claimed.platform][0]
        route = self._route(layer, claimed.platform)
        artifacts = self.settings.data_dir / "artifacts" / str(claimed.id)
        request = self._request(claimed)
        async with route.open() as handle:

            async def once() -> None:
                if run.need_reconcile:
                    raise _Undecidable("outcome unknown — check before reposting")
                await asyncio.to_thread(artifacts.mkdir, parents=True, exist_ok=True)
                if run.state != DeliveryState.PUBLISHING:
                    await self._transition(
                        run, DeliveryState.PUBLISHING, honour_cancel=True, event={"layer": layer}
                    )
                job = BrowserJob(
                    request=request,
                    route=handle,
                    artifacts_dir=artifacts,
                    settings=self.settings.plugins.get(claimed.platform, {}),
                    sandbox_url=self.settings.sandbox_url,
                )
                try:
                    post = await uploader.upload(job)
                except OutcomeUnknown:
                    run.need_reconcile = True
                    raise
                await self._published(run, post)

            await self._tries(run, layer, handle.name, once, None)

    # ------------------------------------------------------------ endings

    async def _published(self, run: _Run, post: RemotePost, *, via: str = "publish") -> None:
        at = post.published_at or self.clock.now()
        await self._transition(
            run,
            DeliveryState.PUBLISHED,
            release=True,
            reason=via,
            fields={
                "remote_id": post.remote_id,
                "remote_url": post.url,
                "published_at": at,
                "outcome_unknown": False,
                "wait_reason": None,
            },
            event={"remote_id": post.remote_id, "url": post.url},
        )
        log.info(
            "published",
            delivery=str(run.claimed.id),
            platform=run.claimed.platform,
            url=post.url,
            via=via,
        )

    async def _park(self, run: _Run, until: datetime, reason: str) -> None:
        """Back to the queue at ``until`` (lease released, upload state kept)."""
        await self._transition(
            run,
            DeliveryState.RETRY_WAIT,
            release=True,
            reason=reason,
            fields={
                "due_at": until,
                "wait_reason": reason,
                "layer_index": run.layer_index,
                "last_error": run.last_error,
                "last_error_class": run.last_error_class,
                "outcome_unknown": run.need_reconcile,
            },
            event={"due_at": until.isoformat()},
        )

    async def _fail(self, run: _Run, message: str, *, alert_level: AlertLevel = "warning") -> None:
        run.last_error = message
        await self._transition(
            run,
            DeliveryState.FAILED,
            release=True,
            reason=message,
            fields={"last_error": message, "last_error_class": run.last_error_class},
        )
        await self._alert(run, alert_level, f"{run.claimed.platform}: delivery failed", message)

    async def _to_manual(self, run: _Run) -> None:
        from pellacia.delivery.manual import package_dir, write_package
        from pellacia.store import posts as post_store

        claimed = run.claimed
        unknown = run.need_reconcile
        reason = run.last_error or "every automatic layer was skipped or failed"
        if unknown and "outcome unknown" not in reason:
            reason = f"outcome unknown — check before reposting ({reason})"
        async with self.pool.acquire() as conn:
            delivery = await store.get(conn, claimed.id)
            post = await post_store.get(conn, claimed.post_id)
            tries = await store.attempts(conn, claimed.id)
        assert delivery is not None and post is not None
        folder = package_dir(self.settings.data_dir, claimed.id)
        await asyncio.to_thread(
            write_package,
            folder,
            delivery=delivery,
            post=post,
            attempts=tries,
            reason=reason,
            outcome_unknown=unknown,
            screenshots_from=self.settings.data_dir / "artifacts" / str(claimed.id),
        )
        await self._transition(
            run,
            DeliveryState.MANUAL,
            release=True,
            reason=reason,
            fields={
                "manual_package": str(folder),
                "outcome_unknown": unknown,
                "last_error": reason,
                "last_error_class": run.last_error_class,
                "layer": "manual",
                "wait_reason": "manual",
            },
        )
        await self._alert(
            run,
            "warning",
            f"{claimed.platform}/{claimed.account}: needs a person"
            + (" — OUTCOME UNKNOWN, check before reposting" if unknown else ""),
            f"{post['title']}\n{reason}\nPackage: {folder}\n"
            f"Then: pellacia-dist manual resolve --id {claimed.id} --post-url URL",
        )

    async def _checkpoint_on_stop(self, run: _Run, control: RunControl) -> None:
        """The worker cancelled us: leave the row resumable (upload state kept)."""
        preempted = control.stop_reason == "preempted"
        to = DeliveryState.SUSPENDED if preempted else DeliveryState.READY
        in_publish = run.state == DeliveryState.PUBLISHING or run.need_reconcile
        if in_publish:
            to = DeliveryState.READY  # never suspend mid-publish: reconcile on the next claim
        try:
            await self._finish_attempt(run, "suspended" if preempted else "interrupted")
            await self._transition(
                run,
                to,
                release=True,
                reason=control.stop_reason or "stopped",
                fields={
                    "layer_index": run.layer_index,
                    "outcome_unknown": in_publish,
                    "bytes_sent": run.bytes_sent or None,
                    "wait_reason": "preempted by breaking news" if preempted else None,
                },
            )
        except (LeaseLost, Exception) as exc:  # the worker's sweep will recover it
            log.warning("checkpoint on stop failed", delivery=str(run.claimed.id), error=str(exc))

    # ------------------------------------------------------------ helpers

    def _media_problem(self, claimed: ClaimedDelivery) -> str | None:
        path = Path(claimed.video_path)
        try:
            size = path.stat().st_size
        except OSError:
            return f"the video file {path} is gone; submit the post again"
        expected = int(claimed.media.get("size", size))
        if size != expected:
            return (
                f"the video file {path} changed since it was submitted ({expected} → {size} bytes)"
            )
        return None

    def _request(self, claimed: ClaimedDelivery) -> PublishRequest:
        m = claimed.media
        info = MediaInfo(
            path=Path(claimed.video_path),
            size=int(m["size"]),
            container=str(m.get("container", "mp4")),
            duration=float(m.get("duration", 0.0)),
            width=int(m.get("width", 0)),
            height=int(m.get("height", 0)),
            video_codec=m.get("video_codec"),
            audio_codec=m.get("audio_codec"),
            bitrate=m.get("bitrate"),
            fps=m.get("fps"),
        )
        options = {
            **self.settings.account(claimed.platform, claimed.account).options,
            **claimed.options,
        }
        return PublishRequest(
            delivery_id=str(claimed.id),
            idempotency_key=claimed.idempotency_key,
            platform=claimed.platform,
            account=claimed.account,
            video=info,
            title=claimed.title,
            description=claimed.description,
            hashtags=claimed.hashtags,
            options=options,
            priority="breaking" if claimed.priority > 0 else "normal",
            scheduled_at=claimed.scheduled_at,
        )

    def _token_source(self, platform: Platform, account: str) -> LazyTokenSource:
        """The account's tokens, loaded when the plugin first asks: vault-backed
        when stored; else from the plugin's config section (sandboxes, test
        platforms); else ``AuthExpired`` naming the fix."""
        from pellacia.tokens import LazyTokenSource, ManagedTokenSource

        async def load() -> ManagedTokenSource:
            from pellacia.contract import OAuthClient
            from pellacia.tokens import VaultTokenStore, oauth_client
            from pellacia.vault import VaultError, open_vault

            try:
                if self._vault is None:
                    key = self.settings.secret_key
                    self._vault = open_vault(
                        self.settings.data_dir, key.get_secret_value() if key else None
                    )
                async with self.pool.acquire() as conn:
                    stored = await self._vault.get(conn, platform.name, account)
                if stored is not None:
                    store = VaultTokenStore(self.pool, self._vault, platform.name, account)
                    client = oauth_client(self.settings, platform.name, account)
                    return ManagedTokenSource(
                        platform, client, stored, store=store, clock=self.clock
                    )
            except (VaultError, ConfigError) as exc:
                raise AuthExpired(
                    f"the credentials of {platform.name}/{account} cannot be used: {exc}",
                    platform=platform.name,
                ) from None
            section = self.settings.plugins.get(platform.name, {})
            if section.get("access_token"):
                tokens = TokenSet(
                    access_token=str(section["access_token"]),
                    refresh_token=section.get("refresh_token"),
                )
                client = OAuthClient(str(section.get("client_id", "static")))
                return ManagedTokenSource(platform, client, tokens, clock=self.clock)
            raise AuthExpired(
                f"no credentials stored for {platform.name}/{account}: run "
                f"`pellacia-dist auth login {platform.name} --account {account}`",
                platform=platform.name,
            )

        return LazyTokenSource(load)

    async def _transition(
        self,
        run: _Run,
        to: DeliveryState,
        *,
        release: bool = False,
        reason: str | None = None,
        fields: Mapping[str, Any] | None = None,
        event: Mapping[str, Any] | None = None,
        honour_cancel: bool = False,
    ) -> None:
        async with self.pool.acquire() as conn:
            await store.transition(
                conn,
                run.claimed,
                to,
                owner=self.worker_id,
                reason=reason,
                release=release,
                fields=fields,
                event=event,
                honour_cancel=honour_cancel,
            )
        run.state = to

    async def _update(self, run: _Run, **fields: Any) -> bool:
        async with self.pool.acquire() as conn:
            return await store.update_fenced(
                conn, run.claimed.id, owner=self.worker_id, fields=fields
            )

    async def _event(self, run: _Run, kind: str, **payload: Any) -> None:
        async with self.pool.acquire() as conn:
            await events.record(
                conn,
                kind,
                post_id=run.claimed.post_id,
                delivery_id=run.claimed.id,
                payload=payload,
            )

    async def _skip(self, run: _Run, layer: str, reason: str) -> None:
        log.info("layer skipped", delivery=str(run.claimed.id), layer=layer, reason=reason)
        await self._event(run, "delivery.layer_skipped", layer=layer, reason=reason)

    async def _start_attempt(self, run: _Run, layer: str, route: str | None) -> None:
        async with self.pool.acquire() as conn:
            run.attempt_id, _ = await store.start_attempt(
                conn,
                run.claimed.id,
                layer=layer,
                route=route,
                worker=self.worker_id,
                at=self.clock.now(),
            )

    async def _finish_attempt(
        self, run: _Run, outcome: str, exc: BaseException | None = None
    ) -> None:
        if run.attempt_id is None:
            return
        error_class = (
            exc.error_class.value
            if isinstance(exc, PlatformError)
            else (run.last_error_class if outcome == "error" else None)
        )
        async with self.pool.acquire() as conn:
            await store.finish_attempt(
                conn,
                run.attempt_id,
                at=self.clock.now(),
                outcome=outcome,
                error_class=error_class,
                error=str(exc)
                if exc is not None
                else (run.last_error if outcome == "error" else None),
                bytes_sent=run.bytes_sent or None,
            )
        run.attempt_id = None

    async def _alert(self, run: _Run, level: AlertLevel, title: str, body: str) -> None:
        from pellacia.alerts import record_alert

        alert = Alert(
            level=level,
            title=title,
            body=body,
            platform=run.claimed.platform,
            delivery_id=str(run.claimed.id),
            at=self.clock.now(),
        )
        async with self.pool.acquire() as conn:
            await record_alert(conn, alert, post_id=run.claimed.post_id)
        if self.alerts is not None:
            await self.alerts.send(alert)
