"""Webhook targets on loopback, private, link-local and other non-public ranges
are refused unless allowed: IPv4 and IPv6 literals, IPv4 inside IPv6 (mapped,
6to4, NAT64, IPv4-compatible), DNS names resolving there, and a name that
resolves to a public address when checked but to loopback when connecting.

The only resolver stand-in is ``socket.getaddrinfo`` answering for names under
``.test`` (a reserved top-level domain); nothing is ever sent off this machine."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pellacia.api import webhooks
from pellacia.clock import FakeClock
from pellacia.config import WebhookSettings
from pellacia.delivery.errors import BadInput
from pellacia.delivery.service import cancel_post, create_post
from pellacia.plugins import load_plugins
from pellacia.store import events
from pellacia.store.pool import create_pool
from pellacia.testing.api import WebhookReceiver, webhook_receiver
from pellacia.testing.videos import make_video
from pellacia.vault import Key, KeyRing, Vault
from pellacia_testplatform.fake import FakeTestPlatform
from pellacia_testplatform.fixtures import settings_for

STRICT = WebhookSettings()
VAULT = Vault(KeyRing((Key.generate(),), "test"))
#: a documentation-only public address: checked, never connected to
PUBLIC_V4, PUBLIC_V6 = "93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"

REFUSED_LITERALS = [
    "127.0.0.1",
    "127.1.2.3",
    "0.0.0.0",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "198.18.0.1",
    "224.0.0.1",  # multicast
    "255.255.255.255",
    "[::1]",
    "[::]",
    "[fe80::1]",
    "[fc00::1]",
    "[fd12:3456::1]",
    "[ff02::1]",
    "[::ffff:127.0.0.1]",  # IPv4-mapped
    "[::ffff:7f00:1]",
    "[::ffff:10.0.0.1]",
    "[::ffff:169.254.169.254]",
    "[2002:7f00:1::1]",  # 6to4 of 127.0.0.1
    "[2002:a9fe:a9fe::1]",  # 6to4 of 169.254.169.254
    "[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
    "[64:ff9b::a00:1]",  # NAT64 of 10.0.0.1
    "[::127.0.0.1]",  # IPv4-compatible
]


@pytest.mark.parametrize("host", REFUSED_LITERALS)
async def test_non_public_literals_are_refused(host: str) -> None:
    with pytest.raises(BadInput, match="non-public"):
        await webhooks.check_target(f"http://{host}:8080/hook", STRICT)
    # the opt-outs still work
    await webhooks.check_target(f"http://{host}/hook", WebhookSettings(allow_private=True))
    bare = host.strip("[]")
    await webhooks.check_target(f"http://{host}/hook", WebhookSettings(allowed_hosts=[bare]))


@pytest.mark.parametrize(
    "host", [PUBLIC_V4, f"[{PUBLIC_V6}]", "[::ffff:93.184.216.34]", "[64:ff9b::5db8:d822]"]
)
async def test_public_literals_pass(host: str) -> None:
    await webhooks.check_target(f"https://{host}/hook", STRICT)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, list[list[str]]], None]:
    """``dns(name, [answer1, answer2, ...])``: successive lookups of ``name`` get
    successive answers (the last one repeats); other names resolve as usual."""
    real = socket.getaddrinfo
    answers: dict[str, list[list[str]]] = {}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        queue = answers.get(str(host))
        if queue is None:
            return real(host, port, *args, **kwargs)
        now = queue.pop(0) if len(queue) > 1 else queue[0]
        port_number = int(port or 0)
        found = []
        for address in now:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            where: Any = (address, port_number, 0, 0) if ":" in address else (address, port_number)
            found.append((family, socket.SOCK_STREAM, 6, "", where))
        return found

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def add(name: str, sequence: list[list[str]]) -> None:
        answers[name] = list(sequence)

    return add


async def test_names_resolving_to_private_addresses_are_refused(dns: Any) -> None:
    dns("inside.test", [["10.1.2.3"]])
    dns("mixed.test", [[PUBLIC_V4, "127.0.0.1"]])  # one bad address is enough
    dns("mapped.test", [["::ffff:192.168.0.7"]])
    dns("v6.test", [[PUBLIC_V6, "fd00::5"]])
    dns("fine.test", [[PUBLIC_V4, PUBLIC_V6]])
    # and the spellings of 127.0.0.1 the C resolver accepts
    odd = ("2130706433", "0x7f000001", "0x7f.1", "127.1", "017700000001")
    for name in ("localhost", "inside.test", "mixed.test", "mapped.test", "v6.test", *odd):
        with pytest.raises(BadInput, match="non-public"):
            await webhooks.check_target(f"https://{name}/hook", STRICT)
    await webhooks.check_target("https://fine.test/hook", STRICT)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[WebhookReceiver, str]]:
    async with webhook_receiver() as pair:
        yield pair


async def test_a_name_rebound_to_loopback_after_the_check_gets_nothing(
    dns: Any,
    receiver: tuple[WebhookReceiver, str],
    pg_dsn: str,
    testplatform: FakeTestPlatform,
    tmp_path: Path,
) -> None:
    """DNS rebinding: public when the URL is checked (on add, and again before
    each send), loopback when the connection is made. The connection must use
    checked addresses only, so the loopback receiver hears nothing."""
    rec, url = receiver
    port = url.split(":")[2].split("/")[0]
    # lookups: add's check, then per send the check and the connection
    dns("rebind.test", [[PUBLIC_V4], [PUBLIC_V4], ["127.0.0.1"]])
    pool = await create_pool(pg_dsn, max_size=4)
    clock = FakeClock(datetime(2030, 6, 1, 12, 0, tzinfo=UTC))
    dispatcher = webhooks.Dispatcher(pool, STRICT, clock, vault=VAULT)
    try:
        async with pool.acquire() as conn:
            hook_id, rec.secret = await webhooks.add(
                conn, f"http://rebind.test:{port}/hook", None, STRICT, vault=VAULT
            )
        created = await create_post(
            pool,
            load_plugins(),
            settings_for(testplatform, tmp_path / "data"),
            file=make_video(tmp_path / "clip.mp4", seconds=1.0),
            platforms="testplatform",
            scheduled_at="2030-07-01 10:00",
            clock=clock,
        )
        await cancel_post(pool, created.id)
        assert await dispatcher.run_once() == 0
        async with pool.acquire() as conn:
            failed = await conn.fetch(
                "SELECT last_error FROM webhook_messages WHERE webhook_id = $1", hook_id
            )
        # the first message (the others wait behind it) failed at the connection
        assert any("non-public" in str(r["last_error"]) for r in failed), failed
        # and the ping of `webhook test` connects through the same guard
        async with pool.acquire() as conn:
            dns("rebind.test", [[PUBLIC_V4], ["::1", "127.0.0.1"]])
            status, error = await webhooks.send_test(
                conn, hook_id, STRICT, clock.now(), vault=VAULT
            )
        assert status is None and error is not None and "non-public" in error
    finally:
        await dispatcher.close()
        await pool.close()
    await asyncio.sleep(0)  # let the receiver's loop settle before counting
    assert rec.requests == 0


async def test_signing_secrets_are_sealed_in_the_database(
    receiver: tuple[WebhookReceiver, str], pg_dsn: str, tmp_path: Path
) -> None:
    """The database holds a webhook's signing secret only sealed with the vault key:
    new ones on add, older plain ones on the dispatcher's first pass. A key
    rotation by another process re-seals them, and a running dispatcher follows
    it: signatures still verify."""
    from pellacia.store import webhooks as store
    from pellacia.vault import open_vault, rotate

    rec, url = receiver
    loose = WebhookSettings(allowed_hosts=["127.0.0.1"])
    data = tmp_path / "data"
    vault = open_vault(data, None)  # a key file, as serve and the worker use
    pool = await create_pool(pg_dsn, max_size=2)
    clock = FakeClock(datetime(2030, 6, 1, 12, 0, tzinfo=UTC))
    dispatcher = webhooks.Dispatcher(pool, loose, clock, vault=vault)
    try:
        async with pool.acquire() as conn:
            hook_id, rec.secret = await webhooks.add(conn, url, None, loose, vault=vault)
            legacy = "whsec_" + "bGVnYWN5LXBsYWluLXNlY3JldC1mcm9tLWJlZm9yZQ=="
            old_id = uuid.uuid4()
            await store.add(conn, hook_id=old_id, url=url, secret=legacy, events=[])
        await dispatcher.run_once()
        async with pool.acquire() as conn:
            stored = dict(await store.secrets(conn))
            assert all(v.startswith("sealed:") for v in stored.values()), stored
            assert rec.secret not in str(stored) and legacy not in str(stored)
            ping = await webhooks.send_test(conn, hook_id, loose, clock.now(), vault=vault)
            assert ping == (204, None)
            done = await rotate(conn, data, None)  # as `vault rotate-key` does
            assert done.new_key_id in str(dict(await store.secrets(conn)))
            # both secrets open under the new key only
            after = dict(await store.secrets(conn))
            assert webhooks.signing_secret(vault, old_id, after[old_id]) == legacy
            await store.remove(conn, old_id)
            await events.record(conn, "alert", payload={"title": "after the rotation"})
        # the dispatcher, started before the rotation, signs with the re-sealed secret
        assert await dispatcher.run_once() == 1
    finally:
        await dispatcher.close()
        await pool.close()
    assert rec.bad_signatures == 0 and rec.types() == ["ping", "alert"]
