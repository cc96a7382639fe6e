"""SQL behind an audit of the queue against the platforms (the chaos run's).

Reads only: how many deliveries are in each state, which are not final yet and
why, every delivery with its post's title, and the tries left without an outcome.
"""

from __future__ import annotations

from typing import Any

from pellacia.store.models import FINAL

_FINAL = sorted(str(state) for state in FINAL)


async def state_counts(conn: Any) -> dict[str, int]:
    """Deliveries per state."""
    rows = await conn.fetch("SELECT state, count(*) AS n FROM deliveries GROUP BY state")
    return {str(r["state"]): int(r["n"]) for r in rows}


async def unfinished(conn: Any, limit: int) -> list[Any]:
    """The first ``limit`` deliveries not final yet, soonest due first:
    ``platform, state, wait_reason, last_error, due_in`` (seconds)."""
    rows: list[Any] = await conn.fetch(
        "SELECT platform, state, wait_reason, last_error,"
        " extract(epoch FROM due_at - now()) AS due_in FROM deliveries"
        " WHERE state <> ALL($1::text[]) ORDER BY due_at LIMIT $2",
        _FINAL,
        limit,
    )
    return rows


async def deliveries_with_titles(conn: Any) -> list[Any]:
    """Every delivery: ``id, platform, account, state, outcome_unknown,
    last_error, remote_id`` and its post's ``title``."""
    rows: list[Any] = await conn.fetch(
        "SELECT d.id, d.platform, d.account, d.state, d.outcome_unknown, d.last_error,"
        " d.remote_id, p.title FROM deliveries d JOIN posts p ON p.id = d.post_id"
    )
    return rows


async def attempt_totals(conn: Any) -> tuple[int, int]:
    """``(tries of final deliveries left without an outcome, all tries)``."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE a.outcome IS NULL AND d.state = ANY($1::text[])) AS open,"
        " count(*) AS total"
        " FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id",
        _FINAL,
    )
    return int(row["open"]), int(row["total"])
