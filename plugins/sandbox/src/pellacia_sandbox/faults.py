"""Fault injection: rules the control API adds, applied before a fake's handlers.

A rule matches a platform, optionally a method and a regex searched in the
path after ``/<platform>``. ``skip`` lets the first N matching requests pass;
``times`` is how many it then hits (``None``: every one until cleared).

A ``lose_response`` rule may name ``on_status`` (a list of HTTP statuses): it
then loses only answers with one of them, and only those count for ``skip``
and ``times``. That targets the one answer that matters in a protocol whose
calls share a path: the final chunk of a resumable upload that creates the
post answers 200, the chunks before it 308.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pellacia_sandbox.fakes.base import NATIVE_ERROR_KINDS

if TYPE_CHECKING:
    from pellacia_sandbox.fakes.base import FakePlatform

FAULT_KINDS: tuple[str, ...] = (
    *NATIVE_ERROR_KINDS,
    "reset",
    "lose_response",
    "delay",
    "status",
)
MAX_DELAY_S = 30.0
_RESERVED = {"id", "platform", "method", "path", "kind", "times", "skip", "probability"}


class FaultSpecError(ValueError):
    """A fault rule the control API refuses (said in the 400 body)."""


@dataclass
class Fault:
    """One fault-injection rule."""

    id: int
    kind: str
    platform: str | None = None
    method: str | None = None
    path: str | None = None
    times: int | None = 1
    skip: int = 0
    #: chance that a matching request gets the fault (chaos runs); 1: every one
    probability: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)
    hits: int = 0
    _regex: re.Pattern[str] | None = field(default=None, repr=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    @property
    def on_status(self) -> frozenset[int] | None:
        """Statuses whose answers a ``lose_response`` rule loses (None: any)."""
        statuses = self.params.get("on_status")
        return frozenset(statuses) if statuses is not None else None

    def consume(self) -> bool:
        """Count one matching request: True when it gets the fault (a hit); False
        while skipping, when exhausted, or when ``probability`` spares it."""
        if self.exhausted:
            return False
        if self.skip > 0:
            self.skip -= 1
            return False
        if self.probability < 1 and self._rng.random() >= self.probability:
            return False
        self.hits += 1
        return True

    def matches(self, platform: str, method: str, path: str) -> bool:
        if self.platform is not None and self.platform != platform:
            return False
        if self.method is not None and self.method != method.upper():
            return False
        return self._regex is None or self._regex.search(path) is not None

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "platform": self.platform,
            "method": self.method,
            "path": self.path,
            "skip": self.skip,
            "times": self.times,
            "probability": self.probability,
            "remaining": None if self.times is None else max(0, self.times - self.hits),
            "hits": self.hits,
            **self.params,
        }


class FaultTable:
    """The active fault rules, first added first matched."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._rng = rng or random.Random()

    def add(self, spec: Mapping[str, Any]) -> Fault:
        """Validate a JSON rule and add it."""
        kind = spec.get("kind")
        if kind not in FAULT_KINDS:
            raise FaultSpecError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        path = spec.get("path")
        try:
            regex = re.compile(path) if path else None
        except re.error as exc:
            raise FaultSpecError(f"path is not a valid regex: {exc}") from None
        times = spec.get("times", 1)
        skip = spec.get("skip", 0)
        if times is not None and (not isinstance(times, int) or times < 1):
            raise FaultSpecError("times must be a positive integer or null (always)")
        if not isinstance(skip, int) or skip < 0:
            raise FaultSpecError("skip must be a non-negative integer")
        probability = spec.get("probability", 1.0)
        if not isinstance(probability, int | float) or not 0 < probability <= 1:
            raise FaultSpecError("probability must be a number in (0, 1]")
        params = {k: v for k, v in spec.items() if k not in _RESERVED}
        if kind == "delay":
            seconds = params.get("seconds", 1.0)
            if not isinstance(seconds, int | float) or not 0 <= seconds <= MAX_DELAY_S:
                raise FaultSpecError(f"delay seconds must be between 0 and {MAX_DELAY_S:g}")
        if kind == "status" and not isinstance(params.get("status"), int):
            raise FaultSpecError("kind 'status' needs an integer 'status'")
        if kind == "reset" and not isinstance(params.get("after_bytes", 0), int):
            raise FaultSpecError("after_bytes must be an integer")
        statuses = params.get("on_status")
        if statuses is not None and (
            kind != "lose_response"
            or not isinstance(statuses, list)
            or not statuses
            or not all(isinstance(s, int) for s in statuses)
        ):
            raise FaultSpecError("on_status (lose_response only) must be a list of HTTP statuses")
        method = spec.get("method")
        fault = Fault(
            id=next(self._ids),
            kind=kind,
            platform=spec.get("platform"),
            method=method.upper() if method else None,
            path=path,
            times=times,
            skip=skip,
            probability=float(probability),
            params=params,
            _regex=regex,
            _rng=self._rng,
        )
        self._faults.append(fault)
        return fault

    def take(self, platform: str, method: str, path: str) -> Fault | None:
        """The rule that fires for this request, consuming one skip or hit.

        A rule with ``on_status`` is returned unconsumed: ``apply_fault``
        counts it once the answer's status is known.
        """
        for fault in self._faults:
            if fault.exhausted or not fault.matches(platform, method, path):
                continue
            if fault.on_status is not None or fault.consume():
                return fault
        return None

    def remove(self, fault_id: int) -> bool:
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.id != fault_id]
        return len(self._faults) != before

    def clear(self) -> None:
        self._faults.clear()

    def to_json(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self._faults]


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _abort(request: web.Request) -> None:
    """Drop the connection without a response: the client sees a reset."""
    transport = request.transport
    if transport is not None:
        transport.abort()


async def _drain(request: web.Request) -> None:
    """Read and drop the request body (a native error answers without it)."""
    async for _ in request.content.iter_any():
        pass


async def apply_fault(
    fault: Fault,
    fake: FakePlatform,
    request: web.Request,
    handler: Handler,
    entry: dict[str, Any],
) -> web.StreamResponse:
    """Answer ``request`` as ``fault`` says (calling ``handler`` only where it must run).

    ``entry`` is the request's log line: it records the fault that fired.
    """
    entry["fault"] = fault.kind
    params = fault.params
    if fault.kind in NATIVE_ERROR_KINDS:
        await _drain(request)  # answering before the body is read leaves its reader pending
        return fake.native_error(fault.kind, **params)
    if fault.kind == "status":
        await _drain(request)
        body = params.get("body", {"error": "injected fault"})
        return web.json_response(
            body, status=int(params["status"]), headers=params.get("headers") or None
        )
    if fault.kind == "delay":
        await asyncio.sleep(float(params.get("seconds", 1.0)))
        return await handler(request)
    if fault.kind == "reset":
        wanted = int(params.get("after_bytes", 0))
        received = 0
        while received < wanted:
            piece = await request.content.read(min(65536, wanted - received))
            if not piece:
                break
            received += len(piece)
        entry["bytes_before_reset"] = received
        _abort(request)
        return web.Response(status=499)  # never reaches the client
    if fault.kind == "lose_response":
        response = await handler(request)
        statuses = fault.on_status
        if statuses is not None and (response.status not in statuses or not fault.consume()):
            entry["fault"] = None  # not the answer this rule waits for: it goes out
            return response
        _abort(request)
        return response
    raise AssertionError(f"unhandled fault kind {fault.kind}")  # FaultTable validated it
