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
* fenced — every write goes through :class:`~pellacia.store.deliveries.HeldDelivery`,
  which checks the lease: a worker that lost it stops without touching the row
  or the platform again;
* audited — each try is a ``delivery_attempts`` row.

What to do after a failed try is decided by :func:`pellacia.delivery.policy.decide`;
this module only carries the decision out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pellacia.atomic import DiskFull
from pellacia.contract import Alert, AlertLevel, RemotePost, UploadReceipt
from pellacia.delivery import policy
from pellacia.delivery.context import Contexts, media_problem, publish_request
from pellacia.delivery.layers import Layer, LayerKind, route_for, unavailable
from pellacia.delivery.policy import INLINE_RETRY_MAX, Failure, Stage
from pellacia.errors import ErrorClass, OutcomeUnknown
from pellacia.log import get_logger
from pellacia.private_files import private_dir
from pellacia.store.deliveries import ORPHANED_UPLOAD, CancelRequested, HeldDelivery, LeaseLost
from pellacia.store.models import ClaimedDelivery, DeliveryState, RunControl
from pellacia.store.pool import is_unavailable

if TYPE_CHECKING:
    import asyncpg

    from pellacia.alerts import AlertDispatcher
    from pellacia.clock import Clock
    from pellacia.config import Settings
    from pellacia.contract import Platform, PlatformContext, PublishRequest
    from pellacia.plugins import Registry

log = get_logger("pellacia.delivery")

ProgressCallback = Callable[[str, int, int], None]

#: receipt key (core's, beside the plugin's state): when the whole video was in
UPLOADED_AT = "uploaded_at"

__all__ = ["INLINE_RETRY_MAX", "DeliveryExecutor", "ProgressCallback"]


class _LayerDone(Exception):
    """The layer gave up; the chain moves on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Ended(Exception):
    """The delivery reached a state that ends this run (parked, failed, manual)."""


class _ReRoute(Exception):
    """A '+vpn' try lost its network: the next try takes the best route again."""


@dataclass
class _Run:
    """Mutable state of one run of one delivery."""

    held: HeldDelivery
    need_reconcile: bool
    receipt: UploadReceipt | None
    layer_index: int
    layer: Layer = Layer.API
    stage: Stage = Stage.UPLOAD
    last_error: str | None = None
    last_error_class: str | None = None
    #: a reconcile in this run said the platform holds no post of this delivery
    reconciled: bool = False
    bytes_sent: int = 0
    bytes_total: int = 0
    #: the latest saved resumable state: a retry in this run resumes from here
    upload_state: Mapping[str, Any] | None = None
    #: why the video cannot be sent (gone, changed), found before a reconcile
    #: that must come first: the post may be out already
    media_problem: str | None = None
    #: shared with the worker (``settled`` once a final state is written)
    control: RunControl = field(default_factory=RunControl)

    @property
    def claimed(self) -> ClaimedDelivery:
        return self.held.claimed

    def waiting(self, now: datetime) -> float:
        """Seconds since the platform got the whole video (0: not yet, or unknown)."""
        at = self.receipt.state.get(UPLOADED_AT) if self.receipt is not None else None
        return (now - datetime.fromisoformat(at)).total_seconds() if at else 0.0

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

    def __init__(self, run: _Run, on_progress: ProgressCallback | None) -> None:
        self._run = run
        self._on_progress = on_progress
        self.resume_state: Mapping[str, Any] | None = run.upload_state

    async def save_state(self, state: Mapping[str, Any]) -> None:
        if _another_session(self.resume_state, state):
            # the plugin could not resume and started a new remote upload
            await self._run.held.event(ORPHANED_UPLOAD, layer=self._run.layer)
        self.resume_state = dict(state)
        self._run.upload_state = self.resume_state
        cancel = await self._run.held.update(
            upload_state=dict(state),
            bytes_sent=self._run.bytes_sent,
            bytes_total=self._run.bytes_total or None,
        )
        if cancel:
            raise CancelRequested(str(self._run.claimed.id))

    def progress(self, sent: int, total: int) -> None:
        self._run.bytes_sent = sent
        self._run.bytes_total = total
        if self._on_progress is not None:
            self._on_progress(str(self._run.claimed.id), sent, total)


def _another_session(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether ``new`` upload state names another remote session than ``old``
    (an id or URL, i.e. a text value, changed; offsets are numbers)."""
    if not old:
        return False
    return any(
        isinstance(value, str) and isinstance(old.get(key), str) and old[key] != value
        for key, value in new.items()
    )


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
        self.limits = policy.Limits.of(settings.retry, inline_retry_max)
        self.contexts = Contexts(pool, settings, clock)
        self._route_alerts: set[asyncio.Task[None]] = set()
        for route in registry.routes.values():
            subscribe = getattr(route, "on_alert", None)  # optional: routes watching their health
            if callable(subscribe):
                subscribe(self._route_alert)

    # ------------------------------------------------------------------ entry

    async def run(self, claimed: ClaimedDelivery, control: RunControl) -> None:
        """Take ``claimed`` as far as it can go now; always leaves the row in a
        state that says what happens next (see the module docstring)."""
        run = _Run(
            held=HeldDelivery(self.pool, claimed, self.worker_id),
            need_reconcile=claimed.outcome_unknown
            or claimed.previous_state == DeliveryState.PUBLISHING,
            receipt=(
                UploadReceipt(remote_id=claimed.receipt.get("remote_id"), state=claimed.receipt)
                if claimed.receipt
                else None
            ),
            layer_index=claimed.layer_index,
            upload_state=claimed.upload_state,
            control=control,
        )
        try:
            await run.held.close_lost_attempts(self.clock.now())
            await self._run_chain(run)
        except asyncio.CancelledError:
            await self._checkpoint_on_stop(run, control)
            raise
        except _Ended:
            pass
        except LeaseLost as exc:
            log.warning("lease lost; stopping", delivery=str(claimed.id), error=str(exc))
        except CancelRequested:
            await self._finish_attempt(run, "cancelled")
            with contextlib.suppress(LeaseLost):
                await run.held.transition(
                    DeliveryState.CANCELLED, release=True, reason="cancelled by operator"
                )

    # ------------------------------------------------------------------ chain

    async def _run_chain(self, run: _Run) -> None:
        claimed = run.claimed
        if claimed.is_test and not self.settings.sandbox_url:
            await self._fail(run, "a test post needs a sandbox (--sandbox), refusing to go live")
        problem = media_problem(claimed)
        if problem and not run.need_reconcile:
            await self._fail(run, problem)
        # A publish may be out already (a lost answer, a restored backup): ask the
        # platform before failing over a file that is gone (it may be gone because
        # the post is out), and fail only when an upload would need the file.
        run.media_problem = problem
        names = self.settings.chain_for(claimed.platform)
        while run.layer_index < len(names):
            layer = Layer.parse(names[run.layer_index])
            why_not = self._why_not(run, layer)
            if why_not is not None:
                log.info("layer skipped", delivery=str(claimed.id), layer=names[run.layer_index])
                await run.held.event(
                    "delivery.layer_skipped", layer=names[run.layer_index], reason=why_not
                )
            else:
                assert layer is not None
                try:
                    await self._layer(run, layer)
                    return
                except _LayerDone as exc:
                    await run.held.event("delivery.layer_failed", layer=layer, reason=exc.reason)
            run.layer_index += 1
            if why_not is None and run.layer_index < len(names):
                await run.held.update(layer_index=run.layer_index)
        await self._fail(
            run,
            f"every layer of the chain failed ({', '.join(names)}); last error: "
            f"{run.last_error or 'none'}",
            alert_level="critical",
        )

    def _why_not(self, run: _Run, layer: Layer | None) -> str | None:
        """Why ``layer`` is skipped for this delivery, or None."""
        if layer is None:
            name = self.settings.chain_for(run.claimed.platform)[run.layer_index]
            return f"unknown layer {name!r} in the chain"
        why_not = unavailable(self.registry, layer, run.claimed.platform)
        if why_not is None and layer.kind is LayerKind.BROWSER:
            if run.receipt is not None:
                why_not = "the video is already uploaded; a browser would upload it again"
            elif run.need_reconcile and not self._browser_reconciles(run):
                why_not = "a publish may already have gone out; a browser cannot check that"
        return why_not

    def _browser_reconciles(self, run: _Run) -> bool:
        """Whether the platform's page script can look for a post on the account's
        pages (``reconcile(job)``), so an unknown outcome need not skip the layer."""
        uploader = self.registry.browser_uploaders[run.claimed.platform][0]
        return callable(getattr(uploader, "reconcile", None))

    async def _layer(self, run: _Run, layer: Layer) -> None:
        if layer.kind is LayerKind.MANUAL:
            await self._to_manual(run)
        while True:
            try:
                return await self._through_route(run, layer)
            except _ReRoute:  # a dead tunnel is left behind; the upload resumes elsewhere
                continue

    async def _through_route(self, run: _Run, layer: Layer) -> None:
        prefer = await run.held.last_vpn_route() if layer.via_vpn else None
        route = route_for(self.registry, layer, run.claimed.platform, prefer)
        request = publish_request(run.claimed, self.settings)
        # The route opens inside each try: one that cannot open (a tunnel down or
        # cooling off, a proxy unreachable) is a failed try the policy weighs like
        # any other, never an error that escapes the run.
        if layer.kind is LayerKind.API:
            platform = self.registry.platforms[run.claimed.platform]

            async def api_once() -> None:
                async with self.contexts.api(platform, run.claimed, route) as ctx:
                    await self._api_once(run, layer, platform, request, ctx)

            await self._tries(run, layer, route.name, api_once)
            return
        uploader = self.registry.browser_uploaders[run.claimed.platform][0]
        look = getattr(uploader, "reconcile", None)  # optional: reconcile(job) -> post | None
        artifacts = self.settings.data_dir / "artifacts" / str(run.claimed.id)

        async def browser_once() -> None:
            async with route.open() as handle:
                await asyncio.to_thread(private_dir, artifacts)
                await self._to_publishing(run)
                job = self.contexts.browser_job(request, handle, artifacts)
                if run.need_reconcile and look is not None:  # a page script looks first
                    run.stage = Stage.RECONCILE
                    found: RemotePost | None = await look(job)
                    if found is not None:
                        await self._published(run, found, via="reconcile")
                        return
                    run.need_reconcile = False
                    run.reconciled = True
                    await run.held.update(outcome_unknown=False)
                    await run.held.event("delivery.reconciled", found=False)
                if run.media_problem is not None:
                    await self._fail(run, run.media_problem)
                run.stage = Stage.PUBLISH
                await self._published(run, await uploader.upload(job))

        await self._tries(run, layer, route.name, browser_once)

    # ------------------------------------------------------------- the tries

    async def _tries(
        self, run: _Run, layer: Layer, route: str, once: Callable[[], Awaitable[None]]
    ) -> None:
        """Call ``once`` until it succeeds, or the policy ends the run (parks,
        fails, hands to a person) or gives up on the layer (``_LayerDone``)."""
        history = await run.held.layer_history(layer.value, [c.value for c in policy.COUNTED])
        failures, acked, since = history.failures, history.bytes_acked, history.since
        run.layer = layer
        while True:
            since = since or self.clock.now()
            await run.held.start_attempt(layer=layer.value, route=route, at=self.clock.now())
            try:
                await once()
            except (CancelRequested, asyncio.CancelledError, LeaseLost, _Ended):
                raise
            except Exception as exc:
                if is_unavailable(exc):
                    # not the platform's failure and nothing can be written now:
                    # the worker hands the delivery back once the database is back
                    raise
                failure = Failure.of(exc)
                if failure.error_class is None:  # a plugin bug: never lose the delivery over it
                    log.exception("plugin raised an untyped error", delivery=str(run.claimed.id))
                run.last_error, run.last_error_class = failure.message, failure.label
                await self._finish_attempt(run, "error")
                progressed, acked = run.bytes_sent > acked, max(acked, run.bytes_sent)
                failures = policy.count(failures, failure, progressed=progressed)
                now = self.clock.now()
                situation = policy.Situation(
                    run.claimed.platform,
                    layer,
                    run.stage,
                    failures,
                    now,
                    layer_elapsed=(now - since).total_seconds(),
                    uploaded=run.receipt is not None,
                    waiting=run.waiting(now),
                )
                await self._carry_out(run, layer, policy.decide(failure, situation, self.limits))
                if layer.via_vpn and failure.error_class is ErrorClass.NETWORK:
                    raise _ReRoute from None  # an inline retry: take the best route for it
            else:
                return

    async def _carry_out(self, run: _Run, layer: Layer, step: policy.Step) -> None:
        """Do what the policy decided; returns to try again, raises to stop."""
        match step:
            case policy.Retry(delay=delay, inline=True):
                await run.held.event(
                    "delivery.retry", layer=layer, delay=delay, error=run.last_error
                )
                await self.clock.sleep(delay)
            case policy.Retry(delay=delay):
                await self._park(run, self.clock.now() + timedelta(seconds=delay), "retry")
            case policy.Reconcile():
                run.need_reconcile = True
                await run.held.update(outcome_unknown=True)
            case policy.WaitUntil(at=until, reason=reason):
                await self._block_account(run, until, reason)
                await self._park(run, until, f"rate-limit: {reason}")
            case policy.WaitForPlatform(delay=delay, reason=reason):
                await self._mark_uploaded(run)
                await self._park(run, self.clock.now() + timedelta(seconds=delay), reason)
            case policy.NextLayer(reason=reason, alert=alert):
                if alert is not None:
                    await self._alert_for(run, layer, alert)
                raise _LayerDone(reason)
            case policy.Fail(message=message):
                await self._fail(run, message)
            case policy.Manual(reason=reason, outcome_unknown=unknown):
                run.last_error = reason
                run.need_reconcile = run.need_reconcile or unknown
                await self._to_manual(run)

    async def _api_once(
        self,
        run: _Run,
        layer: Layer,
        platform: Platform,
        request: PublishRequest,
        ctx: PlatformContext,
    ) -> None:
        if run.need_reconcile:
            run.stage = Stage.RECONCILE
            found = await platform.reconcile(request, run.reconcile_receipt(), ctx)
            if found is not None:
                await self._published(run, found, via="reconcile")
                return
            run.need_reconcile = False
            run.reconciled = True
            await run.held.update(outcome_unknown=False)
            await run.held.event("delivery.reconciled", found=False)
        if run.receipt is None:
            if run.media_problem is not None:
                await self._fail(run, run.media_problem)
            run.stage = Stage.UPLOAD
            if run.held.state != DeliveryState.UPLOADING:
                await run.held.transition(
                    DeliveryState.UPLOADING, reason=f"upload via {layer}", honour_cancel=True
                )
            receipt = await platform.upload(request, _DbUploadSession(run, self.on_progress), ctx)
            await self._uploaded(run, receipt, request.video.size)
        await self._to_publishing(run)
        run.stage = Stage.PUBLISH
        try:
            post = await platform.publish(request, run.receipt, ctx)  # type: ignore[arg-type]
        except OutcomeUnknown:
            run.need_reconcile = True
            raise
        await self._published(run, post)

    async def _uploaded(self, run: _Run, receipt: UploadReceipt, size: int) -> None:
        stored = {
            "remote_id": receipt.remote_id,
            **dict(receipt.state),
            UPLOADED_AT: self.clock.now().isoformat(),
        }
        run.receipt = UploadReceipt(remote_id=receipt.remote_id, state=stored)
        run.bytes_sent = max(run.bytes_sent, size)
        if await run.held.update(receipt=stored, bytes_sent=size, bytes_total=size):
            raise CancelRequested(str(run.claimed.id))

    async def _mark_uploaded(self, run: _Run) -> None:
        """Date a receipt saved without its upload time (older rows), so the wait
        for the platform has an end."""
        if run.receipt is None or UPLOADED_AT in run.receipt.state:
            return
        stored = {**dict(run.receipt.state), UPLOADED_AT: self.clock.now().isoformat()}
        run.receipt = UploadReceipt(remote_id=run.receipt.remote_id, state=stored)
        await run.held.update(receipt=stored)

    async def _to_publishing(self, run: _Run) -> None:
        """Committed before the non-idempotent call: a crash from here on reconciles."""
        if run.held.state != DeliveryState.PUBLISHING:
            await run.held.transition(
                DeliveryState.PUBLISHING, reason="publish", honour_cancel=True
            )

    # ------------------------------------------------------------ endings

    async def _published(self, run: _Run, post: RemotePost, *, via: str = "publish") -> None:
        await run.held.transition(
            DeliveryState.PUBLISHED,
            release=True,
            reason=via,
            # closed with the state change: a stop in between cannot mislabel the try
            attempt={
                "at": self.clock.now(),
                "outcome": "published",
                "bytes_sent": run.bytes_sent or None,
            },
            fields={
                "remote_id": post.remote_id,
                "remote_url": post.url,
                "published_at": post.published_at or self.clock.now(),
                "outcome_unknown": False,
                "wait_reason": None,
            },
        )
        log.info(
            "published",
            delivery=str(run.claimed.id),
            platform=run.claimed.platform,
            url=post.url,
            via=via,
        )

    async def _block_account(self, run: _Run, until: datetime, reason: str) -> None:
        from pellacia.store import quotas

        async with self.pool.acquire() as conn:
            await quotas.block(
                conn,
                platform=run.claimed.platform,
                account=run.claimed.account,
                until=until,
                reason=reason,
            )

    async def _park(self, run: _Run, until: datetime, reason: str) -> None:
        """Back to the queue at ``until`` (lease released, upload state kept); ends the run."""
        await run.held.transition(
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
        )
        raise _Ended

    async def _fail(self, run: _Run, message: str, *, alert_level: AlertLevel = "warning") -> None:
        """``failed`` with ``message`` and an alert; ends the run."""
        run.last_error = message
        # from here the run only finishes (its final state, then the operator's alert):
        # a stopping worker waits for it; a cancel could land after the state commits
        run.control.settled = True
        await run.held.transition(
            DeliveryState.FAILED,
            release=True,
            reason=message,
            fields={"last_error": message, "last_error_class": run.last_error_class},
        )
        await self._alert(run, alert_level, f"{run.claimed.platform}: delivery failed", message)
        raise _Ended

    async def _to_manual(self, run: _Run) -> None:
        """Into the manual queue with an export package and an alert; ends the run."""
        from pellacia.delivery.manual import package_dir, write_package

        claimed = run.claimed
        delivery, post, tries = await run.held.package_inputs()
        # A worker that died mid-upload may have sent the last chunk, and on
        # platforms where that publishes (TikTok, YouTube) the post is up though
        # nothing here says so: unless a reconcile since said otherwise, a person
        # must check before uploading by hand.
        lost_mid_upload = (
            not run.reconciled
            and any(t.get("outcome") in ("worker lost", "database lost") for t in tries)
            and bool(delivery.get("upload_state") or delivery.get("receipt"))
        )
        unknown = run.need_reconcile or lost_mid_upload
        reason = run.last_error or "every automatic layer was skipped or failed"
        if unknown and "outcome unknown" not in reason:
            reason = f"{policy.UNKNOWN_PREFIX} ({reason})"
        folder: Path | None = package_dir(self.settings.data_dir, claimed.id)
        try:
            await asyncio.to_thread(
                write_package,
                package_dir(self.settings.data_dir, claimed.id),
                delivery=delivery,
                post=post,
                attempts=tries,
                reason=reason,
                outcome_unknown=unknown,
                screenshots_from=self.settings.data_dir / "artifacts" / str(claimed.id),
                options=publish_request(claimed, self.settings).options,
                plugin_settings=self.settings.plugins.get(claimed.platform, {}),
            )
        except DiskFull as exc:
            # a person is needed either way: the queue entry goes in, the package later
            log.error("manual package not written", delivery=str(claimed.id), error=str(exc))
            reason = (
                f"{reason}; no export package ({exc}): make room, then "
                f"pellacia-dist manual export --id {claimed.id}"
            )
            folder = None
        # from here the run only finishes (its final state, then the operator's alert):
        # a stopping worker waits for it; a cancel could land after the state commits
        run.control.settled = True
        await run.held.transition(
            DeliveryState.MANUAL,
            release=True,
            reason=reason,
            fields={
                "manual_package": str(folder) if folder else None,
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
            f"{post['title']}\n{reason}\nPackage: {folder or 'not written'}\n"
            f"Then: pellacia-dist manual resolve --id {claimed.id} --post-url URL",
        )
        raise _Ended

    async def _checkpoint_on_stop(self, run: _Run, control: RunControl) -> None:
        """The worker cancelled us: leave the row resumable (upload state kept)."""
        preempted = control.stop_reason == "preempted"
        to = DeliveryState.SUSPENDED if preempted else DeliveryState.READY
        in_publish = run.held.state == DeliveryState.PUBLISHING or run.need_reconcile
        if in_publish:
            to = DeliveryState.READY  # never suspend mid-publish: reconcile on the next claim
        try:
            await self._finish_attempt(run, "suspended" if preempted else "interrupted")
            await run.held.transition(
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
        except Exception as exc:  # lease lost or database gone: the lease sweep recovers it
            log.warning("checkpoint on stop failed", delivery=str(run.claimed.id), error=str(exc))

    # ------------------------------------------------------------ helpers

    async def _finish_attempt(self, run: _Run, outcome: str) -> None:
        error = outcome == "error"
        await run.held.finish_attempt(
            at=self.clock.now(),
            outcome=outcome,
            error_class=run.last_error_class if error else None,
            error=run.last_error if error else None,
            bytes_sent=run.bytes_sent or None,
        )

    async def _alert_for(self, run: _Run, layer: Layer, kind: policy.AlertKind) -> None:
        claimed = run.claimed
        who = f"{claimed.platform}/{claimed.account}"
        if kind is policy.AlertKind.CREDENTIALS:
            await self._alert(
                run,
                "critical",
                f"{who}: credentials refused",
                f"{run.last_error}\nRun `pellacia-dist auth login {claimed.platform} "
                f"--account {claimed.account}`; trying the next layer meanwhile.",
            )
        else:
            await self._alert(
                run,
                "critical",
                f"{who}: the platform asks for a human",
                f"{run.last_error}\nLayer {layer} stopped; trying the next layer.",
            )

    def _route_alert(self, alert: Alert) -> None:
        """A route's own event (a VPN route down, every route down): recorded and sent."""
        task = asyncio.get_running_loop().create_task(self._send_route_alert(alert))
        self._route_alerts.add(task)
        task.add_done_callback(self._route_alerts.discard)

    async def _send_route_alert(self, alert: Alert) -> None:
        from pellacia.alerts import record_alert

        try:
            async with self.pool.acquire() as conn:
                await record_alert(conn, alert)
            if self.alerts is not None:
                await self.alerts.send(alert)
        except Exception as exc:  # an alert must never break a delivery
            log.warning("route alert not recorded", title=alert.title, error=str(exc))

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
