"""Owns the running tunnels of this process: lazy bring-up, probes, rebuilds, alerts.

One :class:`Supervisor` is shared by every tunnel route of a registry. The
first use cleans up what a crashed run left (by our prefix, idempotently),
then brings the asked route up under its ownership lock. A probe loop
(started with the first tunnel, in the running event loop) probes each route
through its proxy and keeps its :class:`~pellacia_vpn.health.Health`; a
route going ``down`` is torn down at once (its connections cut, so work in
flight fails fast and moves to another route) and rebuilt at its next use
after the cooldown; one whose tunnel process died is rebuilt at its next use. Route events become :class:`Alert` s,
handed to ``on_alert`` (core's dispatcher when wired) and kept in
``alerts``. Everything is torn down at :meth:`close` and, as a last resort,
at interpreter exit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pellacia.contract import Alert
from pellacia.errors import Unsupported
from pellacia.log import get_logger

from pellacia_vpn import netns
from pellacia_vpn.health import Health, Policy
from pellacia_vpn.netns import Names, TunnelError
from pellacia_vpn.probe import ProbeResult, probe
from pellacia_vpn.tunnel import Credentials, Tunnel, bring_up

if TYPE_CHECKING:
    from pellacia_vpn.routes import TunnelRoute

log = get_logger("pellacia.vpn")


@dataclass(frozen=True)
class Options:
    """The ``[plugins.vpn]`` settings every tunnel route shares."""

    prefix: str = netns.DEFAULT_PREFIX
    subnet: str = netns.DEFAULT_SUBNET
    check_url: str | None = None  # absent: health is whether the tunnel process lives
    probe_interval: float = 5.0
    probe_timeout: float = 3.0
    up_timeout: float = 20.0
    policy: Policy = field(default_factory=Policy)


class Supervisor:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.tunnels: dict[str, Tunnel] = {}
        self.health: dict[str, Health] = {}
        self.alerts: list[Alert] = []
        self.on_alert: Callable[[Alert], object] | None = None
        self._locks: dict[str, netns.Lock] = {}
        self._guards: dict[str, asyncio.Lock] = {}
        self._routes: dict[str, TunnelRoute] = {}
        self._cleaned = False
        self._loop_task: asyncio.Task[None] | None = None
        atexit.register(self._at_exit)

    # ------------------------------------------------------------------ use
    def health_of(self, route: str) -> Health:
        return self.health.setdefault(route, Health(self.options.policy))

    async def ensure_up(self, route: TunnelRoute) -> Tunnel:
        """The route's tunnel, brought up (or rebuilt) if needed; ``TunnelError`` if not."""
        problem = netns.missing_privileges()
        if problem:
            raise Unsupported(f"route {route.name} cannot be used: {problem}")
        guard = self._guards.setdefault(route.route, asyncio.Lock())
        async with guard:
            tunnel = self.tunnels.get(route.route)
            health = self.health_of(route.route)
            if tunnel is not None and tunnel.alive and not health.needs_rebuild(time.monotonic()):
                return tunnel
            if tunnel is not None:
                await self._stop(route.route, reason=tunnel.why_dead())
            return await self._start(route)

    async def _start(self, route: TunnelRoute) -> Tunnel:
        async with self._guards.setdefault("", asyncio.Lock()):  # once, before any start
            if not self._cleaned:
                removed = await asyncio.to_thread(netns.clean_stale, self.options.prefix)
                if removed:
                    log.info("removed what a crashed run left", objects=removed)
                self._cleaned = True
        names = self.names(route)
        lock = netns.Lock(names)
        if not lock.acquire():
            raise TunnelError(f"route {route.name} is held by another running pellacia-dist")
        self._locks[route.route] = lock
        self._routes[route.route] = route
        credentials = route.credentials()
        try:
            tunnel = await bring_up(
                names,
                route.tunnel,
                route.config_file,
                credentials,
                route.extra_args,
                self.options.up_timeout,
            )
        except BaseException:
            shutil.rmtree(names.run_dir, ignore_errors=True)
            lock.release()
            del self._locks[route.route]
            raise
        self.tunnels[route.route] = tunnel
        self._write_status(route.route)
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.create_task(self._probe_loop())
        return tunnel

    def names(self, route: TunnelRoute) -> Names:
        return Names(route.route, self.options.prefix, route.index, self.options.subnet)

    async def stop(self, route: str) -> None:
        await self._stop(route, reason="stopped")

    async def _stop(self, route: str, reason: str) -> None:
        tunnel = self.tunnels.pop(route, None)
        if tunnel is not None:
            log.info("route going down", route=f"vpn:{route}", reason=reason)
            await tunnel.stop()
        lock = self._locks.pop(route, None)
        if lock is not None:
            if tunnel is not None:  # still ours: nobody else can be using the directory
                shutil.rmtree(tunnel.names.run_dir, ignore_errors=True)
            lock.release()

    async def close(self) -> None:
        """Stop probing and tear every tunnel down."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        for route in list(self.tunnels):
            await self._stop(route, reason="closing")

    def _at_exit(self) -> None:
        for route, tunnel in list(self.tunnels.items()):
            for child in tunnel.children:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.kill()
            netns.destroy(tunnel.names)
            shutil.rmtree(tunnel.names.run_dir, ignore_errors=True)  # still ours: lock held
            self.tunnels.pop(route, None)

    # --------------------------------------------------------------- health
    async def check(self, route: str, proxy: str | None) -> ProbeResult:
        """Probe one route now and record the result (and its alert, if its state changed)."""
        tunnel = self.tunnels.get(route)
        if tunnel is not None and not tunnel.alive:
            result = ProbeResult(False, 0.0, None, f"tunnel down: {tunnel.why_dead()}")
        elif self.options.check_url is None:
            ok = tunnel is not None
            result = ProbeResult(ok, 0.0, None, None if ok else "not brought up")
        else:
            result = await probe(proxy, self.options.check_url, self.options.probe_timeout)
        if self.tunnels.get(route) is not tunnel:
            return result  # rebuilt or stopped meanwhile: this says nothing about the new one
        health = self.health_of(route)
        change = health.record(
            time.monotonic(),
            result.ok,
            latency=result.latency,
            egress_ip=result.egress_ip,
            problem=result.problem,
        )
        if change is not None:
            self._alert(route, *change)
        self._write_status(route)
        if change is not None and change[1] == "down" and tunnel is not None:
            # cut its connections now: work in flight fails at once and moves to
            # another route instead of waiting for a read timeout; rebuilt on use
            async with self._guards.setdefault(route, asyncio.Lock()):  # not while it starts
                if self.tunnels.get(route) is tunnel:
                    await self._stop(route, reason=f"down: {health.last_failure}")
        return result

    async def _probe_loop(self) -> None:
        while True:
            routes = list(self.tunnels)
            await asyncio.gather(*(self._probe_one(r) for r in routes))
            await asyncio.sleep(self.options.probe_interval)

    async def _probe_one(self, route: str) -> None:
        tunnel = self.tunnels.get(route)
        if tunnel is not None:
            await self.check(route, tunnel.names.proxy_url)

    def _alert(self, route: str, before: str, after: str) -> None:
        """Alerts for a route going down, coming back, and for every route down."""
        health = self.health_of(route)
        log.info("route state", route=f"vpn:{route}", before=before, after=after)
        if after == "down":
            body = f"was {before}; last failure: {health.last_failure}"
            self._emit(Alert(level="warning", title=f"VPN route vpn:{route} is down", body=body))
            if all(h.state == "down" for h in self.health.values()):
                self._emit(Alert(level="critical", title="every VPN route is down", body=body))
        elif after == "up" and before == "down":
            self._emit(Alert(level="info", title=f"VPN route vpn:{route} is up again"))

    def _emit(self, alert: Alert) -> None:
        alert = dataclasses.replace(alert, at=alert.at or datetime.now(UTC))
        self.alerts.append(alert)
        log.warning(alert.title, level=alert.level, detail=alert.body)
        if self.on_alert is not None:
            self.on_alert(alert)

    def _write_status(self, route: str) -> None:
        """The route's health for ``vpn status`` run from another process."""
        names = self._names_by_route(route)
        if names is None or not names.run_dir.exists():
            return
        data = {"route": f"vpn:{route}", "at": time.time(), **self.health_of(route).to_json()}
        path: Path = names.run_dir / "status.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)  # atomic: `vpn status` never reads half a file

    def _names_by_route(self, route: str) -> Names | None:
        tunnel = self.tunnels.get(route)
        if tunnel is not None:
            return tunnel.names
        found = self._routes.get(route)
        return self.names(found) if found is not None else None


def read_status(names: Names) -> dict[str, object] | None:
    """What the process owning a route last wrote about it (None: nothing)."""
    path = names.run_dir / "status.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


__all__ = ["Credentials", "Options", "Supervisor", "read_status"]
