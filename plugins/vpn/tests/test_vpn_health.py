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


def test_score_puts_healthy_and_untried_first_then_degraded_then_down() -> None:
    def at(*results: bool) -> Health:
        health = Health(Policy(fail_threshold=2, cooldown=30))
        for ok in results:
            health.record(0, ok, latency=0.05, egress_ip=None, problem=None if ok else "x")
        return health

    up, unknown, degraded, down = at(True), at(), at(True, False), at(False, False)
    assert [h.score(1) for h in (up, unknown, degraded, down)] == [0, 0, 10, 100]
    assert down.score(31) == 20  # cooled off: tried again, after every other one
    fast, slow = Health(), Health()
    fast.record(0, True, latency=0.01, egress_ip=None, problem=None)
    slow.record(0, True, latency=0.5, egress_ip=None, problem=None)
    assert fast.score(0) == slow.score(0)  # latency never moves an account off its route
