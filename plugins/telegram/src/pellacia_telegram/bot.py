"""The operator bot: act on alerts from a phone (python-telegram-bot's ``Application``).

Buttons under alerts (``pellacia_telegram.sink.buttons``): **Retry** puts a
failed or manual delivery back in the queue, **Resolve** asks for the post
URL (the answer is a reply to the bot's question) and records the delivery as
published by hand, **Pause account** holds the delivery's account back.
Commands: ``/status`` (deliveries per platform and state, paused accounts),
``/queue`` (what waits and why), ``/manual`` (what needs a person).

Only chats in ``allowed_chat_ids`` (by default the alert chat) are heard:
anything from another chat gets no answer at all. Every action is recorded
as an ``operator.action`` event naming who did it.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pellacia.clock import SYSTEM_CLOCK, Clock
from pellacia.store import events

if TYPE_CHECKING:
    from telegram import Update, User
    from telegram.ext import Application, ContextTypes

    from pellacia_telegram.sink import TelegramConfig

_RESOLVE_PROMPT = "Resolve delivery {id}: reply to this message with the post URL."
_RESOLVE_ID = re.compile(r"Resolve delivery ([0-9a-f-]{36})")
#: lines shown by /queue and /manual
SHOWN = 15


def who(user: User | None) -> str:
    """The operator as recorded on events."""
    if user is None:
        return "telegram:unknown"
    return f"telegram:{user.id}" + (f" @{user.username}" if user.username else "")


class OperatorBot:
    """Polls Telegram for the operator's commands and button presses."""

    def __init__(self, config: TelegramConfig, pool: Any, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.pool = pool
        self.clock = clock
        self.allowed = frozenset(config.allowed_chat_ids)
        self.handled = 0  #: the last update id handled (allowed or not)
        self._progress = asyncio.Condition()
        self._app: Application[Any, Any, Any, Any, Any, Any] | None = None

    # --------------------------------------------------------------- running

    def _build(self) -> Application[Any, Any, Any, Any, Any, Any]:
        from telegram import Update
        from telegram.ext import (
            ApplicationBuilder,
            CallbackQueryHandler,
            CommandHandler,
            MessageHandler,
            TypeHandler,
            filters,
        )

        app = (
            ApplicationBuilder()
            .token(self.config.bot_token)
            .base_url(self.config.base_url)
            .concurrent_updates(False)
            .build()
        )
        chats = filters.Chat(chat_id=sorted(self.allowed))
        app.add_handler(CommandHandler("status", self._status, filters=chats))
        app.add_handler(CommandHandler("queue", self._queue, filters=chats))
        app.add_handler(CommandHandler("manual", self._manual, filters=chats))
        app.add_handler(CallbackQueryHandler(self._button))
        app.add_handler(MessageHandler(chats & filters.REPLY & filters.TEXT, self._reply))
        app.add_handler(TypeHandler(Update, self._done), group=1)
        return app

    async def start(self) -> None:
        """Start polling (returns once running)."""
        self._app = self._build()
        await self._app.initialize()
        await self._app.start()
        updater = self._app.updater
        assert updater is not None
        await updater.start_polling(poll_interval=0.0, timeout=10)

    async def stop(self) -> None:
        """Stop polling and close the bot."""
        app, self._app = self._app, None
        if app is None:
            return
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:  # a start that failed half-way left it stopped
            await app.stop()
        await app.shutdown()

    async def wait_handled(self, update_id: int, within: float = 30.0) -> None:
        """Until the update ``update_id`` was handled (tests, scripts)."""
        async with asyncio.timeout(within), self._progress:
            await self._progress.wait_for(lambda: self.handled >= update_id)

    async def _done(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        async with self._progress:
            self.handled = max(self.handled, update.update_id)
            self._progress.notify_all()

    # -------------------------------------------------------------- actions

    def _heard(self, update: Update) -> bool:
        chat = update.effective_chat
        return chat is not None and chat.id in self.allowed

    async def _record(self, action: str, update: Update, **payload: Any) -> None:
        delivery = payload.pop("delivery_id", None)
        chat = update.effective_chat
        async with self.pool.acquire() as conn:
            await events.record(
                conn,
                "operator.action",
                delivery_id=delivery,
                payload={
                    "action": action,
                    "by": who(update.effective_user),
                    "chat_id": chat.id if chat else None,
                    "via": "telegram",
                    **payload,
                },
            )

    async def _button(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or not self._heard(update):
            return  # another chat: no answer at all
        action, _sep, ident = (query.data or "").partition(":")
        try:
            delivery_id = uuid.UUID(ident)
        except ValueError:
            await query.answer("unknown button")
            return
        if action == "resolve":
            await query.answer()
            message = update.effective_message
            if message is not None:
                from telegram import ForceReply

                await message.reply_text(
                    _RESOLVE_PROMPT.format(id=delivery_id),
                    reply_markup=ForceReply(input_field_placeholder="https://…"),
                )
            return
        handler = {"retry": self._retry, "pause": self._pause}.get(action)
        if handler is None:
            await query.answer("unknown button")
            return
        text = await handler(delivery_id, update)
        await query.answer(text[:190])
        if update.effective_message is not None:
            await update.effective_message.reply_text(text)

    async def _retry(self, delivery_id: uuid.UUID, update: Update) -> str:
        from pellacia.delivery.errors import BadInput, NotFound
        from pellacia.scheduling import service

        try:
            async with self.pool.acquire() as conn:
                was = await service.retry(conn, delivery_id, self.clock.now())
        except (BadInput, NotFound) as exc:
            await self._record("retry", update, delivery_id=delivery_id, result=str(exc))
            return f"Not retried: {exc}"
        await self._record("retry", update, delivery_id=delivery_id, result=f"was {was}")
        return f"Delivery {delivery_id} is queued again (it was {was})."

    async def _pause(self, delivery_id: uuid.UUID, update: Update) -> str:
        from pellacia.store import accounts, deliveries

        async with self.pool.acquire() as conn:
            row = await deliveries.get(conn, delivery_id)
            if row is None:
                return f"No delivery {delivery_id}."
            platform, account = row["platform"], row["account"]
            await accounts.pause(
                conn,
                platform,
                account,
                now=self.clock.now(),
                until=None,
                reason="paused from Telegram",
                by=who(update.effective_user),
            )
        await self._record(
            "pause", update, delivery_id=delivery_id, account=f"{platform}/{account}"
        )
        return (
            f"{platform}/{account} is paused: its posts wait. "
            f"Resume with: pellacia-dist account resume {platform}/{account}"
        )

    async def _reply(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        asked = message.reply_to_message if message is not None else None
        found = _RESOLVE_ID.search(asked.text or "") if asked is not None else None
        if message is None or found is None:
            return
        from pellacia.delivery.errors import BadInput, NotFound
        from pellacia.delivery.manual import resolve

        delivery_id = uuid.UUID(found.group(1))
        url = (message.text or "").strip()
        try:
            remote = await resolve(self.pool, delivery_id, post_url=url, at=self.clock.now())
        except (BadInput, NotFound) as exc:
            await self._record("resolve", update, delivery_id=delivery_id, result=str(exc))
            await message.reply_text(f"Not resolved: {exc}")
            return
        await self._record("resolve", update, delivery_id=delivery_id, url=url)
        await message.reply_text(f"Delivery {delivery_id} recorded as published ({remote}).")

    # ------------------------------------------------------------- commands

    async def _status(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        from pellacia.scheduling.service import queue_status

        now = self.clock.now()
        async with self.pool.acquire() as conn:
            status = await queue_status(conn, now)
        lines = [
            f"{platform}: " + ", ".join(f"{state} {n}" for state, n in by.items())
            for platform, by in status.counts.items()
        ] or ["No deliveries."]
        lines.append(f"Next due: {_when(status.next_due, now)}")
        lines += [
            f"Paused: {a.platform}/{a.account} ({a.pause_reason or 'no reason'})"
            for a in status.accounts
            if a.paused
        ]
        await _answer(update, "\n".join(lines))

    async def _queue(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        from pellacia.scheduling.service import queue_status

        now = self.clock.now()
        async with self.pool.acquire() as conn:
            status = await queue_status(conn, now)
        lines = [
            f"{str(w.id)[:8]} {w.platform}/{w.account}: {w.reason}"
            + (f" until {_when(w.until, now)}" if w.until else "")
            for w in status.waiting[:SHOWN]
        ]
        await _answer(update, "\n".join(lines) or "Nothing waits.")

    async def _manual(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        from pellacia.delivery.manual import list_manual

        items = await list_manual(self.pool)
        lines = [
            f"{str(i.delivery_id)[:8]} {i.platform}/{i.account}: {i.title}"
            + (" (OUTCOME UNKNOWN)" if i.outcome_unknown else "")
            for i in items[:SHOWN]
        ]
        await _answer(update, "\n".join(lines) or "Nothing needs a person.")


def _when(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "-"
    return "now" if value <= now else f"{value:%Y-%m-%d %H:%M} UTC"


async def _answer(update: Update, text: str) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(text)
