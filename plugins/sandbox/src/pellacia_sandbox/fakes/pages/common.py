"""What every fake upload page shares: web sessions (a cookie per signed-in browser)."""

from __future__ import annotations

import secrets

from aiohttp import web

SESSION_COOKIE = "sessionid"


class WebSessions:
    """Session cookies the fake's login form hands out, each bound to an account."""

    def __init__(self) -> None:
        self.accounts: dict[str, str] = {}

    def issue(self, account: str) -> str:
        """A new session cookie value for ``account`` (tests import it into a profile)."""
        value = secrets.token_hex(16)
        self.accounts[value] = account
        return value

    def account(self, request: web.Request) -> str | None:
        """Who the request's cookie signs in, or None (the login wall)."""
        return self.accounts.get(request.cookies.get(SESSION_COOKIE, ""))

    def expire_all(self) -> None:
        self.accounts.clear()


def html(body: str, title: str) -> web.Response:
    return web.Response(
        text=f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title>"
        f"</head><body>{body}</body></html>",
        content_type="text/html",
    )
