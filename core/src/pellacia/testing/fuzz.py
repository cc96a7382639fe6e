"""Shared hypothesis settings of the fuzz tests: reproducible and within budget.

``derandomize`` makes every run draw the same examples (CI reproducible, no
example database on disk); ``deadline=None`` because a shared CI machine's
timing is not a property of the code under test.

    from pellacia.testing.fuzz import fuzz_settings

    @fuzz_settings(max_examples=200)
    @given(st.text())
    def test_parser(text: str) -> None: ...
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings


def fuzz_settings(max_examples: int = 100, **more: Any) -> settings:
    """Settings for one fuzz test: ``max_examples`` fixed examples, no deadline."""
    return settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        **more,
    )
