"""Bursts become one message with a count; quiet hours; the operator's buttons."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from pellacia.alerts import AlertDispatcher
from pellacia.clock import FakeClock
from pellacia.contract import Alert
from pellacia_sandbox.host import SandboxHost
from pellacia_telegram.sink import TelegramAlertSink, TelegramConfig

TOKEN = "987654321:AAFsandboxTOKENabcdefghijklmnopqrstu"
CHAT = "100200300"


@pytest.fixture(scope="module")
async def host():  # type: ignore[no-untyped-def]
    async with SandboxHost(only=["telegram"]) as running:
        yield running


@pytest.fixture
def fake(host: SandboxHost):  # type: ignore[no-untyped-def]
    host.reset()
    return host.fake("telegram")


class SteppedClock(FakeClock):
    """Fake time whose ``sleep`` waits until the test advances the clock."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self._moved = asyncio.Condition()

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._moved:
            self._moved.notify_all()

    async def sleep(self, seconds: float) -> None:
        until = self.monotonic() + seconds
        async with self._moved:
            await self._moved.wait_for(lambda: self.monotonic() >= until)


def sink_for(host: SandboxHost, clock: FakeClock, **section: object) -> TelegramAlertSink:
    base = {"bot_token": TOKEN, "chat_id": CHAT, "base_url": f"{host.base_url}/telegram"}
    config = TelegramConfig.from_section({**base, **section})
    assert config is not None
    return TelegramAlertSink(config, clock=clock)


def failure(n: int, at: datetime) -> Alert:
    return Alert(
        level="warning",
        title="youtube: delivery failed",
        body=f"quota exceeded (delivery {n})",
        platform="youtube",
        delivery_id=f"00000000-0000-0000-0000-{n:012d}",
        at=at,
    )


async def test_fifty_identical_failures_make_a_handful_of_messages(host: SandboxHost, fake) -> None:  # type: ignore[no-untyped-def]
    clock = SteppedClock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    sink = sink_for(host, clock)  # edits at most every 5 s
    dispatcher = AlertDispatcher([sink], "info")
    # 50 in a minute, as a failing platform produces them: all at once, then a trickle
    await asyncio.gather(*(dispatcher.send(failure(n, clock.now())) for n in range(40)))
    for n in range(40, 50):
        clock.advance(2)
        await dispatcher.send(failure(n, clock.now()))
    await sink.drain()
    messages = fake.snapshot()["messages"]
    assert len(messages) == 1  # one message...
    assert 1 <= messages[0]["edits"] <= 5  # ...edited as the burst grew
    assert messages[0]["text"].startswith("<b>50 times</b>")
    assert "quota exceeded (delivery 49)" in messages[0]["text"]  # the latest one
    assert messages[0]["reply_markup"] is None  # buttons belong to one delivery
    # a different failure is its own message
    await dispatcher.send(Alert(level="warning", title="tiktok: delivery failed"))
    assert len(fake.snapshot()["messages"]) == 2


async def test_after_the_window_a_new_message(host: SandboxHost, fake) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    sink = sink_for(host, clock, group_window=60)
    await sink.send(failure(1, clock.now()))
    clock.advance(61)
    await sink.send(failure(2, clock.now()))
    assert [m["edits"] for m in fake.snapshot()["messages"]] == [0, 0]


async def test_quiet_hours_silence_warnings_never_critical(host: SandboxHost, fake) -> None:  # type: ignore[no-untyped-def]
    night = FakeClock(datetime(2026, 6, 1, 23, 30, tzinfo=UTC))  # 01:30 in Paris
    sink = sink_for(host, night, quiet_hours="22:00-07:00", timezone="Europe/Paris")
    await sink.send(Alert(level="warning", title="slow"))
    await sink.send(Alert(level="critical", title="account locked"))
    day = sink_for(
        host, FakeClock(datetime(2026, 6, 1, 10, 0, tzinfo=UTC)), quiet_hours="22:00-07:00"
    )
    await day.send(Alert(level="info", title="published"))
    silent = [m["disable_notification"] for m in fake.snapshot()["messages"]]
    assert silent == [True, False, False]


async def test_buttons_on_alerts_a_person_must_act_on(host: SandboxHost, fake) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    sink = sink_for(host, clock)
    did = "11111111-2222-3333-4444-555555555555"
    await sink.send(Alert(level="warning", title="youtube/news: needs a person", delivery_id=did))
    await sink.send(Alert(level="critical", title="fyi, no delivery"))
    first, second = fake.snapshot()["messages"]
    [row] = first["reply_markup"]["inline_keyboard"]
    assert [(b["text"], b["callback_data"]) for b in row] == [
        ("Retry", f"retry:{did}"),
        ("Resolve", f"resolve:{did}"),
        ("Pause account", f"pause:{did}"),
    ]
    assert second["reply_markup"] is None
