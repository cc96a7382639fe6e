"""A route's health: up / degraded / down from probe results, with a cooldown.

Pure bookkeeping (the clock is passed in), so the rules are tested without a
network: one failure makes a route ``degraded``, ``fail_threshold`` in a row
``down``; a down route is not chosen again before ``cooldown`` seconds, and
one still down after ``rebuild_after`` seconds is torn down and rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

State = Literal["unknown", "up", "degraded", "down"]


@dataclass(frozen=True)
class Policy:
    fail_threshold: int = 2
    cooldown: float = 30.0
    rebuild_after: float = 60.0


@dataclass
class Health:
    """What the probes of one route found; ``record`` returns the state change, if any."""

    policy: Policy = field(default_factory=Policy)
    state: State = "unknown"
    failures: int = 0
    egress_ip: str | None = None
    latency: float | None = None
    last_failure: str | None = None
    down_since: float | None = None

    def record(
        self, now: float, ok: bool, *, latency: float, egress_ip: str | None, problem: str | None
    ) -> tuple[State, State] | None:
        before = self.state
        self.latency = latency
        if ok:
            self.failures, self.down_since = 0, None
            self.egress_ip = egress_ip or self.egress_ip
            self.state = "up"
        else:
            self.failures += 1
            self.last_failure = problem
            if self.failures >= self.policy.fail_threshold:
                if self.state != "down":
                    self.down_since = now
                self.state = "down"
            else:
                self.state = "degraded"
        return (before, self.state) if before != self.state else None

    def usable(self, now: float) -> bool:
        """Whether to send work through the route: not down, or down but cooled off."""
        if self.state != "down" or self.down_since is None:
            return True
        return now - self.down_since >= self.policy.cooldown

    def needs_rebuild(self, now: float) -> bool:
        return (
            self.state == "down"
            and self.down_since is not None
            and now - self.down_since >= self.policy.rebuild_after
        )

    def score(self, now: float) -> float:
        """Lower is better: 0 up or not probed yet, 10 degraded, 20 down but cooled
        off, 100 cooling off. Latency is left out on purpose: among healthy
        routes the executor keeps the account's last one (its egress country)."""
        if not self.usable(now):
            return 100.0
        return {"up": 0.0, "unknown": 0.0, "degraded": 10.0, "down": 20.0}[self.state]

    def to_json(self) -> dict[str, object]:
        return {
            "state": self.state,
            "egress_ip": self.egress_ip,
            "latency_ms": round(self.latency * 1000, 1) if self.latency is not None else None,
            "failures": self.failures,
            "last_failure": self.last_failure,
        }
