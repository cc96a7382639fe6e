"""Fake of the Telegram Bot API (protocols §7): what alerts and the operator bot use.

Methods: ``getMe``, ``sendMessage`` (with ``reply_markup``), ``editMessageText``,
``getUpdates`` (long polling, capped at :data:`MAX_POLL_S`), ``deleteWebhook``,
``answerCallbackQuery``, ``setMyCommands``. Tests play the operator with
``push_message`` (a text or command from a chat) and ``push_callback`` (a
button pressed under one of the bot's messages).

Served as ``{base_url}/telegram/bot<TOKEN>/<method>``, so python-telegram-bot
reaches it with ``Bot(token, base_url=f"{sandbox}/telegram/bot")``.

- Any token shaped like a real one (``<digits>:<30+ letters, digits, _ or ->``)
  belongs to a sandbox bot whose id is the digits; a malformed token, or one
  expired through the control API, gets 401 ``Unauthorized``.
- Parameters come from the query string and a form-urlencoded, multipart or
  JSON body (PTB sends forms, JSON-encoding non-string values).
- Known chats: ``DEFAULT_CHATS`` (add more with ``add_chat``); any other
  chat is 400 ``Bad Request: chat not found``.
- Fault kind ``rate_limit`` answers 429 with ``parameters.retry_after``.
- ``snapshot()["messages"]`` lists every message sent (the token is never kept),
  each with its current text, ``reply_markup`` and number of ``edits``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import Any

from aiohttp import web

from pellacia_sandbox.fakes.base import FakePlatform

TOKEN_SHAPE = re.compile(r"^(\d{1,12}):[A-Za-z0-9_-]{30,}$")
MAX_TEXT_CHARS = 4096
PARSE_MODES = frozenset({"HTML", "Markdown", "MarkdownV2"})
#: a getUpdates call waits at most this long (real time) for an update
MAX_POLL_S = 0.5

#: chat id -> chat object; the private chat is what a sandbox config uses
DEFAULT_CHATS: dict[str, dict[str, Any]] = {
    "100200300": {"id": 100200300, "type": "private", "first_name": "Operator"},
    "-1001000000001": {"id": -1001000000001, "type": "channel", "title": "Newsroom alerts"},
    "@pellacia_alerts": {
        "id": -1001000000002,
        "type": "channel",
        "title": "Pellacia alerts",
        "username": "pellacia_alerts",
    },
}


def _fail(status: int, description: str, **parameters: Any) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


class TelegramFake(FakePlatform):
    """The Bot API methods pellacia-dist uses."""

    name = "telegram"

    def __init__(self, host: Any) -> None:
        super().__init__(host)
        self.chats: dict[str, dict[str, Any]] = {}
        self.messages: list[dict[str, Any]] = []
        self._revoked: set[str] = set()
        self._seen: set[str] = set()
        #: updates for the bot, as Telegram sends them (update_id increasing)
        self.updates: list[dict[str, Any]] = []
        self.answered: list[dict[str, Any]] = []
        self._new_update = asyncio.Event()
        self._new_message = asyncio.Event()
        self.reset()

    # ------------------------------------------------------------ contract

    def setup(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)

    def reset(self) -> None:
        self.chats = {key: dict(chat) for key, chat in DEFAULT_CHATS.items()}
        self.messages.clear()
        self._revoked.clear()
        self._seen.clear()
        self.updates.clear()
        self.answered.clear()

    def snapshot(self) -> dict[str, Any]:
        return {
            "posts": [],
            "uploads": [],
            "messages": [dict(m) for m in self.messages],
            "answered": [dict(a) for a in self.answered],
            "chats": sorted(self.chats),
        }

    def native_error(self, kind: str, **params: Any) -> web.Response:
        if kind in ("rate_limit", "quota"):
            retry_after = int(params.get("retry_after", 5))
            return _fail(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )
        if kind == "auth":
            return _fail(401, "Unauthorized")
        if kind == "challenge":
            return _fail(403, "Forbidden: bot was blocked by the user")
        status = int(params.get("status", 502))
        return _fail(status, "Bad Gateway" if status == 502 else "Internal Server Error")

    def expire_tokens(self) -> None:
        """Revoke every token used so far (as if the bot's token was regenerated)."""
        self._revoked |= self._seen

    # ----------------------------------------------------------- helpers

    def add_chat(self, chat_id: int | str, chat_type: str = "private", **fields: Any) -> None:
        """Make ``chat_id`` a chat the bot can write to."""
        key = str(chat_id)
        ident = int(key) if key.lstrip("-").isdigit() else -1001000000000 - len(self.chats)
        self.chats[key] = {"id": ident, "type": chat_type, **fields}

    async def wait_for_messages(self, count: int = 1) -> list[dict[str, Any]]:
        """Until the bot has sent ``count`` messages (bound it with a timeout)."""
        while len(self.messages) < count:
            self._new_message.clear()
            await self._new_message.wait()
        return [dict(m) for m in self.messages]

    def _user(self, user_id: int, name: str) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": name, "username": name.lower()}

    def _push(self, update: dict[str, Any]) -> int:
        update["update_id"] = len(self.updates) + 1
        self.updates.append(update)
        self._new_update.set()
        return int(update["update_id"])

    def push_message(
        self,
        chat_id: int | str,
        text: str,
        *,
        user_id: int = 4242,
        user_name: str = "Operator",
        reply_to: int | None = None,
    ) -> int:
        """A person writes ``text`` in ``chat_id`` (a reply to the bot's message
        ``reply_to`` when given); returns the update id."""
        chat = self.chats.get(str(chat_id)) or {"id": int(chat_id), "type": "private"}
        message: dict[str, Any] = {
            "message_id": 10_000 + len(self.updates),
            "date": int(self.clock.time()),
            "chat": chat,
            "from": self._user(user_id, user_name),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        if reply_to is not None:
            original = next(
                m
                for m in self.messages
                if m["chat_id"] == chat["id"] and m["message_id"] == reply_to
            )
            message["reply_to_message"] = self._as_message(original)
        return self._push({"message": message})

    def push_callback(
        self,
        chat_id: int | str,
        message_id: int,
        data: str,
        *,
        user_id: int = 4242,
        user_name: str = "Operator",
    ) -> int:
        """A person presses the button ``data`` under the bot's message ``message_id``
        in ``chat_id``; returns the update id."""
        chat = self.chats.get(str(chat_id)) or {"id": int(chat_id), "type": "private"}
        original = next(
            (
                m
                for m in self.messages
                if m["chat_id"] == chat["id"] and m["message_id"] == message_id
            ),
            {"message_id": message_id, "chat_id": chat["id"], "text": "?", "date": 0},
        )
        return self._push(
            {
                "callback_query": {
                    "id": f"cb{len(self.updates) + 1}",
                    "from": self._user(user_id, user_name),
                    "chat_instance": str(chat["id"]),
                    "message": self._as_message(original, chat),
                    "data": data,
                }
            }
        )

    def _as_message(
        self, stored: dict[str, Any], chat: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        found = chat or next(
            (c for c in self.chats.values() if c["id"] == stored["chat_id"]),
            {"id": stored["chat_id"], "type": "private"},
        )
        return {
            "message_id": stored["message_id"],
            "date": stored["date"],
            "chat": found,
            "from": self._bot_user(stored.get("bot_id", 1)),
            "text": stored["text"],
        }

    def _bot_user(self, bot_id: int) -> dict[str, Any]:
        return {
            "id": bot_id,
            "is_bot": True,
            "first_name": "Pellacia Sandbox Bot",
            "username": f"pellacia_sandbox_{bot_id}_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _params(self, request: web.Request) -> dict[str, Any] | web.Response:
        params: dict[str, Any] = dict(request.query)
        ctype = request.content_type
        if not request.can_read_body:
            return params
        if ctype == "application/json":
            try:
                body = await request.json()
            except json.JSONDecodeError:
                return _fail(400, "Bad Request: can't parse JSON object")
            if not isinstance(body, dict):
                return _fail(400, "Bad Request: JSON object expected")
            params.update(body)
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                params[key] = value if isinstance(value, str) else "<file>"
        params["_content_type"] = ctype
        return params

    # ----------------------------------------------------------- methods

    async def _dispatch(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        match = TOKEN_SHAPE.match(token)
        if match is None or token in self._revoked:
            return _fail(401, "Unauthorized")
        self._seen.add(token)
        bot_id = int(match.group(1))
        method = request.match_info["method"].lower()
        params = await self._params(request)
        if isinstance(params, web.Response):
            return params
        if method == "getme":
            return web.json_response({"ok": True, "result": self._bot_user(bot_id)})
        if method == "sendmessage":
            return self._send_message(bot_id, params)
        if method == "editmessagetext":
            return self._edit_message(params)
        if method == "getupdates":
            return await self._get_updates(params)
        if method == "answercallbackquery":
            self.answered.append({k: v for k, v in params.items() if not k.startswith("_")})
            return web.json_response({"ok": True, "result": True})
        if method in ("deletewebhook", "setmycommands"):
            return web.json_response({"ok": True, "result": True})
        return _fail(404, "Not Found: method not found")

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), MAX_POLL_S)
        pending = [u for u in self.updates if u["update_id"] >= offset]
        if not pending and wait > 0:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), wait)
            pending = [u for u in self.updates if u["update_id"] >= offset]
        return web.json_response({"ok": True, "result": pending})

    def _edit_message(self, params: dict[str, Any]) -> web.Response:
        chat = self.chats.get(str(params.get("chat_id", "")).strip())
        if chat is None:
            return _fail(400, "Bad Request: chat not found")
        wanted = int(params.get("message_id") or 0)
        found = next(
            (m for m in self.messages if m["chat_id"] == chat["id"] and m["message_id"] == wanted),
            None,
        )
        if found is None:
            return _fail(400, "Bad Request: message to edit not found")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            return _fail(400, "Bad Request: message text is empty")
        if text == found["text"] and _markup(params) == found["reply_markup"]:
            return _fail(400, "Bad Request: message is not modified")
        found.update(text=text, reply_markup=_markup(params), edits=found["edits"] + 1)
        result = {"message_id": wanted, "chat": chat, "date": found["date"], "text": text}
        return web.json_response({"ok": True, "result": result})

    def _send_message(self, bot_id: int, params: dict[str, Any]) -> web.Response:
        chat_key = str(params.get("chat_id", "")).strip()
        if not chat_key:
            return _fail(400, "Bad Request: chat_id is empty")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            return _fail(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT_CHARS:
            return _fail(400, "Bad Request: message is too long")
        parse_mode = params.get("parse_mode")
        if parse_mode is not None and parse_mode not in PARSE_MODES:
            return _fail(400, f"Bad Request: unsupported parse_mode {parse_mode}")
        chat = self.chats.get(chat_key)
        if chat is None:
            return _fail(400, "Bad Request: chat not found")
        message_id = 1 + sum(1 for m in self.messages if m["chat_id"] == chat["id"])
        date = int(self.clock.time())
        self.messages.append(
            {
                "message_id": message_id,
                "bot_id": bot_id,
                "chat_id": chat["id"],
                "text": text,
                "parse_mode": parse_mode,
                "disable_notification": params.get("disable_notification") in (True, "true"),
                "date": date,
                "content_type": params.get("_content_type"),
                "reply_markup": _markup(params),
                "edits": 0,
                "sent_at": self.clock.time(),  # sub-second, for latency checks
            }
        )
        self._new_message.set()
        result = {
            "message_id": message_id,
            "from": self._bot_user(bot_id),
            "chat": chat,
            "date": date,
            "text": text,
        }
        return web.json_response({"ok": True, "result": result})


def _markup(params: dict[str, Any]) -> Any:
    """``reply_markup`` as an object (PTB sends it JSON-encoded in a form)."""
    value = params.get("reply_markup")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
