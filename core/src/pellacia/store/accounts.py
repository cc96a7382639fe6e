"""Account pause and resume (DESIGN §10), kept on the account's slot row.

A paused account's deliveries stay queued (never fail): the claim skips its
slot row, ``queue status`` shows ``paused: <reason>`` as their wait reason.
``paused_until`` is ``infinity`` for a pause that lasts until resumed. Each
change writes an ``account.paused`` / ``account.resumed`` event with who did it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pellacia.store import events, queue

_PAUSE = """
INSERT INTO account_slots (platform, account, paused_until, pause_reason, paused_by, paused_at)
VALUES ($1, $2, COALESCE($3, 'infinity'::timestamptz), $4, $5, $6)
ON CONFLICT (platform, account) DO UPDATE
SET paused_until = EXCLUDED.paused_until, pause_reason = EXCLUDED.pause_reason,
    paused_by = EXCLUDED.paused_by, paused_at = EXCLUDED.paused_at, updated_at = now()
"""

_RESUME = """
UPDATE account_slots
SET paused_until = NULL, pause_reason = NULL, paused_by = NULL, paused_at = NULL,
    updated_at = now()
WHERE platform = $1 AND account = $2 AND paused_until > $3
RETURNING platform
"""

# Every account the queue or the vault knows, with its pause.
_LIST = """
SELECT k.platform, k.account, COALESCE(s.paused_until > $1, false) AS paused,
       NULLIF(s.paused_until, 'infinity') AS until, s.pause_reason, s.paused_by, s.paused_at,
       (c.platform IS NOT NULL) AS connected
FROM (SELECT platform, account FROM account_slots
      UNION SELECT platform, account FROM credentials) k
LEFT JOIN account_slots s ON s.platform = k.platform AND s.account = k.account
LEFT JOIN credentials c ON c.platform = k.platform AND c.account = k.account
ORDER BY k.platform, k.account
"""


@dataclass(frozen=True)
class AccountState:
    """One account's pause state (``paused_until`` None: not paused; a pause
    without an end has ``until`` None and ``paused`` True)."""

    platform: str
    account: str
    paused: bool
    until: datetime | None
    reason: str | None
    by: str | None
    since: datetime | None
    connected: bool | None  # credentials stored (None: not looked up)


async def pause(
    conn: Any,
    platform: str,
    account: str,
    *,
    now: datetime,
    until: datetime | None,
    reason: str | None,
    by: str,
) -> None:
    """Hold ``platform/account`` back until ``until`` (None: until resumed)."""
    async with conn.transaction():
        await conn.execute(_PAUSE, platform, account, until, reason, by, now)
        await events.record(
            conn,
            "account.paused",
            payload={
                "platform": platform,
                "account": account,
                "until": until.isoformat() if until else None,
                "reason": reason,
                "by": by,
            },
        )


async def resume(conn: Any, platform: str, account: str, *, now: datetime, by: str) -> bool:
    """End the account's pause; False when it was not paused."""
    async with conn.transaction():
        row = await conn.fetchval(_RESUME, platform, account, now)
        if row is None:
            return False
        await events.record(
            conn,
            "account.resumed",
            payload={"platform": platform, "account": account, "by": by},
        )
        await queue.notify(conn)  # the account's due deliveries may go now
    return True


async def states(conn: Any, now: datetime) -> list[AccountState]:
    """Every known account (queued deliveries or stored credentials) and its pause."""
    return [
        AccountState(
            platform=r["platform"],
            account=r["account"],
            paused=r["paused"],
            until=r["until"],
            reason=r["pause_reason"],
            by=r["paused_by"],
            since=r["paused_at"],
            connected=r["connected"],
        )
        for r in await conn.fetch(_LIST, now)
    ]


async def paused(conn: Any, now: datetime) -> dict[tuple[str, str], AccountState]:
    """The accounts paused at ``now`` (few rows, by the partial index)."""
    rows = await conn.fetch(
        "SELECT platform, account, NULLIF(paused_until, 'infinity') AS until,"
        " pause_reason, paused_by, paused_at"
        " FROM account_slots WHERE paused_until > $1",
        now,
    )
    return {
        (r["platform"], r["account"]): AccountState(
            platform=r["platform"],
            account=r["account"],
            paused=True,
            until=r["until"],
            reason=r["pause_reason"],
            by=r["paused_by"],
            since=r["paused_at"],
            connected=None,
        )
        for r in rows
    }
