"""Webhooks: endpoints (add, list, remove, test) and the dispatcher that sends the
events outbox to them, signed per Standard Webhooks, at least once and in order per
delivery, retried with backoff, an endpoint disabled (with an alert) after sustained
failure. The CLI, the API, ``serve`` and the worker all use this module.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import ipaddress
import json
import secrets
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pellacia.contract import Alert
from pellacia.delivery.errors import BadInput, NotFound
from pellacia.log import get_logger
from pellacia.store import webhooks as store

if TYPE_CHECKING:
    import aiohttp
    import asyncpg

    from pellacia.alerts import AlertDispatcher
    from pellacia.clock import Clock
    from pellacia.config import WebhookSettings
    from pellacia.vault import Vault

log = get_logger("pellacia.webhooks")

#: seconds before the 1st, 2nd, ... retry (then the last one, until the window ends)
BACKOFF = (5, 30, 120, 600, 1800, 3600)
#: the event types a filter may name (``delivery.*`` names every delivery one)
EVENT_TYPES = (
    "delivery.created",
    "delivery.state",
    "delivery.retrying",
    "delivery.published",
    "delivery.failed",
    "delivery.manual",
    "delivery.cancelled",
    "delivery.cleared",
    "alert",
)
_BY_STATE = {
    "published": "delivery.published",
    "failed": "delivery.failed",
    "manual": "delivery.manual",
    "retry_wait": "delivery.retrying",
    "cancelled": "delivery.cancelled",
}


def event_type(kind: str, payload: dict[str, Any]) -> str:
    """The webhook type of an outbox event."""
    if kind != "delivery.state":
        return kind
    if payload.get("from") is None:
        return "delivery.created"
    return _BY_STATE.get(str(payload.get("to")), "delivery.state")


def matches(filters: Sequence[str], kind: str) -> bool:
    return not filters or any(
        f == kind or (f.endswith(".*") and kind.startswith(f[:-1])) for f in filters
    )


def parse_filters(raw: str | Iterable[str] | None) -> list[str]:
    parts = (raw.split(",") if isinstance(raw, str) else list(raw)) if raw else []
    wanted = [p.strip() for p in parts if p.strip()]
    known = {t.split(".")[0] + ".*" for t in EVENT_TYPES} | set(EVENT_TYPES)
    unknown = sorted(set(wanted) - known)
    if unknown:
        raise BadInput(f"unknown event types {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}")
    return wanted


#: NAT64's well-known prefix: the last 32 bits are an IPv4 address (RFC 6052)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64, IPv4-compatible)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    low = int(address) & 0xFFFFFFFF
    if address in _NAT64 or (int(address) >> 32 == 0 and low > 1):  # ::a.b.c.d
        return ipaddress.IPv4Address(low)
    return None


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether a webhook may connect to ``address``: global unicast, and when it
    carries an IPv4 address, that one global too."""
    if not address.is_global or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            return is_public(inner)
    return True


def _refusal(host: str, address: object) -> str:
    return (
        f"{host} resolves to {address}, a non-public address: refused unless "
        "[webhooks] allow_private = true or the host is in allowed_hosts"
    )


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


async def check_target(url: str, settings: WebhookSettings) -> None:
    """Refuse URLs that are not http(s); with ``allowed_hosts`` set, any other host;
    else hosts resolving to loopback, private, link-local or other non-public
    addresses (SSRF; IPv4 inside IPv6 counts as the IPv4) unless ``allow_private``.

    The addresses are checked again when connecting (:class:`PublicOnlyResolver`),
    so a name that resolves elsewhere the second time gets nowhere either."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"a webhook URL must be http(s)://host/..., not {url!r}")
    host = parts.hostname
    if settings.allowed_hosts:
        if host in settings.allowed_hosts:
            return
        raise BadInput(f"{host} is not one of [webhooks] allowed_hosts")
    if settings.allow_private:
        return
    literal = _literal(host)
    if literal is not None:
        if not is_public(literal):
            raise BadInput(_refusal(host, literal))
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443)
    except OSError as exc:
        raise BadInput(f"cannot resolve the webhook host {host}: {exc}") from None
    for info in infos:
        address = _literal(str(info[4][0]))
        if address is None or not is_public(address):
            raise BadInput(_refusal(host, info[4][0]))


def webhook_session(settings: WebhookSettings) -> aiohttp.ClientSession:
    """The HTTP session webhooks are sent with: unless private targets are
    allowed, it connects only to public addresses, whatever DNS says then."""
    from pellacia.http import client_session

    if settings.allowed_hosts or settings.allow_private:
        return client_session()
    return client_session(resolver=public_only_resolver())


def public_only_resolver() -> aiohttp.abc.AbstractResolver:
    """aiohttp's resolver, refusing a name when any address it resolves to is not
    public: the check and the connection use the same answer (no DNS rebinding)."""
    from aiohttp.resolver import ThreadedResolver

    class PublicOnlyResolver(ThreadedResolver):
        async def resolve(self, host: str, port: int = 0, family: Any = 0) -> Any:
            found = await super().resolve(host, port, family)
            for entry in found:
                address = _literal(str(entry["host"]))
                if address is None or not is_public(address):
                    raise OSError(errno.EACCES, _refusal(host, entry["host"]))
            return found

    return PublicOnlyResolver()


def _purpose(hook_id: uuid.UUID | str) -> str:
    return f"webhook:{hook_id}"


def signing_secret(vault: Vault, hook_id: uuid.UUID | str, stored: str) -> str:
    """The endpoint's signing secret from its stored (sealed) form."""
    from pellacia.vault import unseal_text

    return unseal_text(vault.ring(), _purpose(hook_id), stored)


async def add(
    conn: Any,
    url: str,
    events: str | Iterable[str] | None,
    settings: WebhookSettings,
    *,
    vault: Vault,
) -> tuple[uuid.UUID, str]:
    """Register an endpoint; returns (its id, its signing secret: shown once).

    The database keeps the secret sealed with the vault's key."""
    from pellacia.vault import seal_text

    wanted = parse_filters(events)
    await check_target(url, settings)
    hook_id = uuid.uuid4()
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    sealed = seal_text(vault.ring().current, _purpose(hook_id), secret)
    await store.add(conn, hook_id=hook_id, url=url, secret=sealed, events=wanted)
    return hook_id, secret


async def seal_plain_secrets(conn: Any, vault: Vault) -> int:
    """Seal the secrets stored in the clear before sealing existed; returns how many."""
    from pellacia.vault import is_sealed, seal_text

    sealed = 0
    async with conn.transaction():
        for hook_id, stored in await store.secrets(conn, for_update=True):
            if not is_sealed(stored):
                await store.set_secret(
                    conn, hook_id, seal_text(vault.ring().current, _purpose(hook_id), stored)
                )
                sealed += 1
    return sealed


async def listing(conn: Any) -> list[dict[str, Any]]:
    return await store.all_hooks(conn)


async def remove(conn: Any, hook_id: uuid.UUID) -> None:
    if not await store.remove(conn, hook_id):
        raise NotFound(f"no webhook {hook_id}")


def sign(secret: str, message_id: str, at: datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers of one message."""
    from standardwebhooks.webhooks import Webhook

    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
        "content-type": "application/json",
    }


async def post(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], body: str, seconds: float
) -> tuple[int | None, str | None]:
    """(HTTP status, error) of one send; 2xx is success."""
    import aiohttp

    try:
        async with session.post(
            url,
            data=body.encode(),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=seconds),
            allow_redirects=False,
        ) as answer:
            await answer.read()
            if 200 <= answer.status < 300:
                return answer.status, None
            return answer.status, f"HTTP {answer.status}"
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def send_test(
    conn: Any,
    hook_id: uuid.UUID,
    settings: WebhookSettings,
    now: datetime,
    *,
    vault: Vault,
) -> tuple[int | None, str | None]:
    """Send a signed ``ping`` to one endpoint now."""
    hook = await store.get(conn, hook_id)
    if hook is None:
        raise NotFound(f"no webhook {hook_id}")
    await check_target(hook["url"], settings)
    body = json.dumps({"type": "ping", "timestamp": now.isoformat(), "data": {}})
    secret = signing_secret(vault, hook_id, hook["secret"])
    headers = sign(secret, f"ping_{uuid.uuid4().hex}", datetime.now(UTC), body)
    async with webhook_session(settings) as session:
        return await post(session, hook["url"], headers, body, settings.timeout)


class Dispatcher:
    """Sends the outbox to the endpoints; ``run_once`` is one pass (call it periodically)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: WebhookSettings,
        clock: Clock,
        *,
        vault: Vault,
        alerts: AlertDispatcher | None = None,
    ) -> None:
        self.pool, self.settings, self.clock, self.alerts = pool, settings, clock, alerts
        #: follows a key rotation made by another process (it re-reads the key file)
        self.vault = vault
        self._session: aiohttp.ClientSession | None = None
        self._plain_checked = False

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def run_once(self) -> int:
        """Fan new events out and send what is due; returns how many were delivered."""
        async with self.pool.acquire() as conn:
            if not await store.try_lock(conn):
                return 0  # another process is dispatching
            try:
                if not self._plain_checked:
                    await seal_plain_secrets(conn, self.vault)
                    self._plain_checked = True
                await self._fan_out(conn)
                delivered = 0
                for _ in range(20):  # later events of one delivery go in the same pass
                    sent = await self._send_due(conn)
                    delivered += sent
                    if not sent:
                        break
                return delivered
            finally:
                await store.unlock(conn)

    async def _fan_out(self, conn: Any) -> None:
        async with conn.transaction():
            events, cursor = await store.new_events(conn, limit=1000)
            hooks = await store.live_hooks(conn)
            rows = []
            for event in events:
                kind = event_type(event["kind"], event["payload"])
                order = str(event["delivery_id"] or event["post_id"] or "global")
                for hook in hooks:
                    if event["created_at"] >= hook["created_at"] and matches(hook["events"], kind):
                        rows.append((hook["id"], event["id"], kind, order))
            if rows:
                await store.enqueue(conn, rows, self.clock.now())
            if events:
                await store.advance(conn, max(cursor, events[-1]["id"]))

    async def _send_due(self, conn: Any) -> int:
        heads = await store.due_heads(conn, self.clock.now(), limit=200)
        if not heads:
            return 0
        if self._session is None:
            self._session = webhook_session(self.settings)
        results = await asyncio.gather(*(self._send(m) for m in heads))
        delivered = 0
        for message, (status, error) in zip(heads, results, strict=True):
            if error is None:
                await store.delivered(
                    conn,
                    message["webhook_id"],
                    message["event_id"],
                    status or 200,
                    self.clock.now(),
                )
                delivered += 1
            else:
                await self._failed(conn, message, status, error)
        return delivered

    async def _send(self, message: dict[str, Any]) -> tuple[int | None, str | None]:
        assert self._session is not None
        body = json.dumps(
            {
                "type": message["type"],
                "timestamp": message["at"].isoformat(),
                "data": {
                    "event_id": message["event_id"],
                    "post_id": str(message["post_id"]) if message["post_id"] else None,
                    "delivery_id": str(message["delivery_id"]) if message["delivery_id"] else None,
                    **message["payload"],
                },
            },
            default=str,
        )
        # the id is the event's: the same on every retry, so receivers can dedupe;
        # the timestamp is this attempt's wall-clock time (receivers check it)
        from pellacia.vault import VaultError

        try:
            secret = signing_secret(self.vault, message["webhook_id"], message["secret"])
        except VaultError as exc:  # the key is gone: a failed send, not a stopped dispatcher
            return None, str(exc)
        headers = sign(secret, f"evt_{message['event_id']}", datetime.now(UTC), body)
        try:
            await check_target(message["url"], self.settings)
        except BadInput as exc:
            return None, str(exc)
        return await post(self._session, message["url"], headers, body, self.settings.timeout)

    async def _failed(
        self, conn: Any, message: dict[str, Any], status: int | None, error: str
    ) -> None:
        now = self.clock.now()
        attempt = message["attempts"]
        delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
        window = timedelta(hours=self.settings.retry_hours)
        next_at = now + timedelta(seconds=delay)
        give_up = next_at - message["created_at"] > window
        since = await store.failed(
            conn,
            message["webhook_id"],
            message["event_id"],
            status=status,
            error=error,
            next_at=None if give_up else next_at,
            now=now,
        )
        log.warning("webhook send failed", url=message["url"], error=error, attempt=attempt + 1)
        if now - since >= timedelta(hours=self.settings.disable_after_hours):
            await self._disable(conn, message, since, error)

    async def _disable(
        self, conn: Any, message: dict[str, Any], since: datetime, error: str
    ) -> None:
        from pellacia.alerts.dispatch import record_alert

        reason = f"failing since {since.isoformat(timespec='seconds')}: {error}"
        await store.disable(conn, message["webhook_id"], reason, self.clock.now())
        alert = Alert(
            level="critical",
            title="webhook endpoint disabled",
            body=f"{message['url']} was disabled after sustained failure ({reason}); "
            "fix it and add it again",
        )
        await record_alert(conn, alert)
        if self.alerts is not None:
            await self.alerts.send(alert)
