"""The Telegram sink sends through the real python-telegram-bot to the sandbox fake."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import aiohttp
import pytest
from pellacia.clock import FakeClock
from pellacia.contract import Alert, AlertSink
from pellacia.errors import AuthExpired, ConfigError, RateLimited, Rejected, Transient
from pellacia.plugins import load_plugins
from pellacia_sandbox.host import SandboxHost
from pellacia_telegram.sink import TelegramAlertSink, TelegramConfig, bot_base_url, format_alert

TOKEN = "987654321:AAFsandboxTOKENabcdefghijklmnopqrstu"
CHAT = "100200300"


@pytest.fixture(scope="module")
async def host() -> AsyncIterator[SandboxHost]:
    async with SandboxHost(only=["telegram"]) as running:
        yield running


@pytest.fixture
async def fake(host: SandboxHost):
    host.reset()
    return host.fake("telegram")


def sink_for(
    host: SandboxHost, clock: FakeClock | None = None, **section: object
) -> TelegramAlertSink:
    base = {"bot_token": TOKEN, "chat_id": CHAT, "base_url": f"{host.base_url}/telegram"}
    base.update(section)
    config = TelegramConfig.from_section(base)
    assert config is not None
    return TelegramAlertSink(config, clock=clock or FakeClock())


ALERT = Alert(
    level="critical",
    title="YouTube upload failed <after 5 tries>",
    body="quota exceeded for channel & account\nnext try at 09:00 PT",
    platform="youtube",
    delivery_id="d-42",
    at=datetime(2026, 11, 24, 23, 0, tzinfo=UTC),
)


async def test_alert_reaches_the_fake(host: SandboxHost, fake) -> None:
    await sink_for(host).send(ALERT)
    (message,) = fake.snapshot()["messages"]
    assert message["chat_id"] == int(CHAT)
    assert message["bot_id"] == 987654321
    assert message["parse_mode"] == "HTML"
    assert message["content_type"] == "application/x-www-form-urlencoded"  # PTB posts forms
    text = message["text"]
    assert text.startswith("🚨 <b>CRITICAL</b> · YouTube upload failed &lt;after 5 tries&gt;")
    assert "platform: <code>youtube</code>" in text and "delivery: <code>d-42</code>" in text
    assert "quota exceeded for channel &amp; account" in text
    # PTB initialised the bot first: getMe, then sendMessage
    methods = [r["path"].rsplit("/", 1)[-1] for r in fake.requests]
    assert methods == ["getMe", "sendMessage"]


async def test_429_is_retried_after_retry_after(host: SandboxHost, fake) -> None:
    host.faults.add(
        {"kind": "rate_limit", "platform": "telegram", "path": "sendMessage$", "retry_after": 7}
    )
    clock = FakeClock()
    before = clock.monotonic()
    await sink_for(host, clock).send(ALERT)
    assert clock.monotonic() - before == 7  # waited what Telegram asked, on the sink's clock
    assert len(fake.snapshot()["messages"]) == 1
    statuses = [r["status"] for r in fake.requests if r["path"].endswith("sendMessage")]
    assert statuses == [429, 200]


async def test_second_429_is_rate_limited(host: SandboxHost, fake) -> None:
    host.faults.add(
        {
            "kind": "rate_limit",
            "platform": "telegram",
            "path": "sendMessage$",
            "retry_after": 3,
            "times": 2,
        }
    )
    with pytest.raises(RateLimited) as err:
        await sink_for(host).send(ALERT)
    assert err.value.retry_after == 3
    assert fake.snapshot()["messages"] == []


async def test_long_retry_after_is_not_waited(host: SandboxHost, fake) -> None:
    host.faults.add({"kind": "rate_limit", "platform": "telegram", "retry_after": 3600})
    clock = FakeClock()
    with pytest.raises(RateLimited):
        await sink_for(host, clock).send(ALERT)
    assert clock.monotonic() == 0


async def test_unknown_chat_is_rejected(host: SandboxHost, fake) -> None:
    with pytest.raises(Rejected, match=r"(?i)chat not found"):
        await sink_for(host, chat_id="555").send(ALERT)


async def test_min_level_filters(host: SandboxHost, fake) -> None:
    sink = sink_for(host, min_level="warning")
    await sink.send(Alert(level="info", title="just so you know"))
    assert fake.snapshot()["messages"] == []


async def test_token_never_shows(host: SandboxHost, fake, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # PTB and httpx log request URLs, which hold the token
    sink = sink_for(host)
    assert TOKEN not in repr(sink) and TOKEN not in repr(sink.config)
    await sink.send(ALERT)
    fake.expire_tokens()
    with pytest.raises(AuthExpired) as auth:  # another alert: the same one would be grouped
        await sink.send(replace(ALERT, title="YouTube upload failed again"))
    assert "401" in str(auth.value)
    # a server that is not there: the network error names no token
    dead = sink_for(host, base_url="http://127.0.0.1:9/telegram", timeout=2)
    with pytest.raises(Transient) as net:
        await dead.send(ALERT)
    for text in (str(auth.value), str(net.value), caplog.text):
        assert TOKEN not in text
    assert auth.value.__cause__ is None and net.value.__cause__ is None
    assert "bot**********/sendMessage" in caplog.text  # the URLs were logged, masked


def test_config_section() -> None:
    assert TelegramConfig.from_section({}) is None
    with pytest.raises(ConfigError, match="no chat_id"):
        TelegramConfig.from_section({"bot_token": TOKEN})
    with pytest.raises(ConfigError, match="no bot_token"):
        TelegramConfig.from_section({"chat_id": CHAT})
    assert bot_base_url(None) == "https://api.telegram.org/bot"
    assert bot_base_url("http://127.0.0.1:1/telegram/") == "http://127.0.0.1:1/telegram/bot"
    assert bot_base_url("http://h/bot") == "http://h/bot"
    assert bot_base_url("http://h/x/{token}/y") == "http://h/x/{token}/y"


def test_format_is_bounded() -> None:
    text = format_alert(Alert(level="warning", title="t", body="x" * 10_000))
    assert len(text) <= 4096
    assert text.startswith("⚠️ <b>WARNING</b> · t")


def test_registers_only_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PELLACIA_LOAD_PLUGINS", "telegram")
    monkeypatch.setenv("PELLACIA_STRICT_PLUGINS", "1")
    registry = load_plugins({}, include_defaults=False)
    assert registry.alert_sinks == [] and registry.plugins[0].error is None
    registry = load_plugins(
        {"telegram": {"bot_token": TOKEN, "chat_id": CHAT}}, include_defaults=False
    )
    (sink,) = registry.alert_sinks
    assert isinstance(sink, AlertSink) and sink.name == "telegram"
    assert registry.plugins[0].provides == ["alert-sink:telegram"]
    monkeypatch.setenv("PELLACIA_STRICT_PLUGINS", "0")
    registry = load_plugins({"telegram": {"bot_token": TOKEN}}, include_defaults=False)
    assert registry.alert_sinks == []
    error = registry.plugins[0].error or ""
    assert "no chat_id" in error and TOKEN not in error


async def test_fake_accepts_json_and_multipart(host: SandboxHost, fake) -> None:
    url = f"{host.base_url}/telegram/bot{TOKEN}/sendMessage"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"chat_id": int(CHAT), "text": "json"}) as resp:
            assert resp.status == 200 and (await resp.json())["ok"] is True
        form = aiohttp.FormData({"chat_id": "@pellacia_alerts", "text": "multipart"})
        form.add_field("doc", b"bytes", filename="a.txt")
        async with http.post(url, data=form) as resp:
            assert resp.status == 200
        async with http.post(f"{host.base_url}/telegram/botnope/getMe") as resp:
            assert resp.status == 401
            assert await resp.json() == {
                "ok": False,
                "error_code": 401,
                "description": "Unauthorized",
            }
        async with http.post(url, data={"chat_id": CHAT, "text": ""}) as resp:
            assert resp.status == 400
    kinds = [m["content_type"] for m in fake.snapshot()["messages"]]
    assert kinds == ["application/json", "multipart/form-data"]
