"""The health rules, without a network: states, cooldown, rebuild, ranking."""

from __future__ import annotations

from pellacia_vpn.health import Health, Policy


def test_one_failure_degrades_two_take_the_route_down_and_success_restores() -> None:
    health = Health(Policy(fail_threshold=2, cooldown=30, rebuild_after=60))
    assert health.state == "unknown"
    assert health.record(0, True, latency=0.01, egress_ip="10.8.0.2", problem=None) == (
        "unknown",
        "up",
    )
    assert health.record(1, False, latency=1.5, egress_ip=None, problem="timeout") == (
        "up",
        "degraded",
    )
    assert health.egress_ip == "10.8.0.2" and health.last_failure == "timeout"
    assert health.record(2, False, latency=1.5, egress_ip=None, problem="timeout") == (
        "degraded",
        "down",
    )
    assert health.record(3, False, latency=1.5, egress_ip=None, problem="timeout") is None
    assert health.down_since == 2  # from the first "down", not the latest failure
    assert not health.usable(31) and health.usable(32)  # cooldown
    assert not health.needs_rebuild(61) and health.needs_rebuild(62)
    assert health.record(70, True, latency=0.02, egress_ip=None, problem=None) == ("down", "up")
    assert health.failures == 0 and health.usable(70) and not health.needs_rebuild(200)


def test_score_orders_up_before_unknown_before_degraded_before_cooling_down() -> None:
    def at(*results: bool) -> Health:
        health = Health(Policy(fail_threshold=2, cooldown=30))
        for ok in results:
            health.record(0, ok, latency=0.05, egress_ip=None, problem=None if ok else "x")
        return health

    up, unknown, degraded, down = at(True), at(), at(True, False), at(False, False)
    order = sorted([down, degraded, unknown, up], key=lambda h: h.score(1))
    assert order == [up, unknown, degraded, down]
    assert down.score(1) == 100.0 and down.score(31) < 100.0  # cooled off: tried again
    fast, slow = Health(), Health()
    fast.record(0, True, latency=0.01, egress_ip=None, problem=None)
    slow.record(0, True, latency=0.5, egress_ip=None, problem=None)
    assert fast.score(0) < slow.score(0)
