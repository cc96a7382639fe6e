"""What every fake upload page shares: web sessions (a cookie per signed-in browser),
the failure modes and their control route, received uploads."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, ClassVar

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


#: the modes of every fake upload page (browser-flows.md's failure modes), with defaults
MODES: dict[str, Any] = {
    "login_wall": False,
    "captcha": False,
    "too_many": False,
    "overlay": False,
    "processing_ms": 300,
    "drop_upload": False,
    "lose_confirmation": False,
}


class UploadPages:
    """The state every fake web upload page keeps: signed-in sessions, its modes
    (``configure``, or ``POST /_sandbox/web`` from a test), and received uploads."""

    #: the platform's name in messages
    label: ClassVar[str] = ""

    def __init__(self, fake: Any) -> None:
        self.fake = fake
        self.sessions = WebSessions()
        self.config = dict(MODES)
        self.uploads: dict[str, dict[str, Any]] = {}

    def configure(self, **modes: Any) -> dict[str, Any]:
        """Set modes (``login_wall=True``, ``processing_ms=2000``, ...); the modes now."""
        unknown = set(modes) - set(MODES)
        if unknown:
            raise KeyError(f"unknown {self.label} web modes: {', '.join(sorted(unknown))}")
        self.config.update(modes)
        return dict(self.config)

    def reset(self) -> None:
        """Signed out, default modes, no uploads."""
        self.sessions.expire_all()
        self.config = dict(MODES)
        self.uploads.clear()

    def _account(self, request: web.Request) -> str | None:
        return None if self.config["login_wall"] else self.sessions.account(request)

    async def _configure_http(self, request: web.Request) -> web.Response:
        try:
            return web.json_response(self.configure(**await request.json()))
        except (ValueError, TypeError, KeyError) as exc:
            return web.json_response({"error": str(exc)}, status=400)


async def receive_upload(request: web.Request, *, drop: bool) -> dict[str, Any]:
    """Read an uploaded file's bytes (hashed and counted, never kept: ``size``,
    ``sha256``, the ``hasher``, the first bytes as ``head``); ``drop``: the
    connection breaks after the first chunk, as a network drop would."""
    hasher, size, head = hashlib.sha256(), 0, b""
    async for chunk in request.content.iter_chunked(64 * 1024):
        if drop and size > 0:
            assert request.transport is not None
            request.transport.close()
            raise web.HTTPBadRequest
        hasher.update(chunk)
        head = head or chunk[:64]
        size += len(chunk)
    return {"size": size, "sha256": hasher.hexdigest(), "hasher": hasher, "head": head}


def html(body: str, title: str) -> web.Response:
    return web.Response(
        text=f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title>"
        f"</head><body>{body}</body></html>",
        content_type="text/html",
    )


#: JavaScript every fake page shares (inserted before the page's own script):
#: ``fakeEditor(el, initial, onChange)`` — a rich-text editor whose model changes
#: only from real ``beforeinput`` events (Draft.js/Quill-like: setting the text
#: from a script renders but is not what gets posted); ``fakeUpload(url, file,
#: {progress, done, failed})`` — the file sent with upload progress events.
PAGE_JS = r"""
<script>
function fakeEditor(el, initial, onChange) {
  let model = initial || "";
  const host = el.closest("[contenteditable]") || el;
  const render = () => {
    el.textContent = model;
    if (!model) el.innerHTML = "<br>";  // an empty block keeps a caret
    const sel = window.getSelection(), range = document.createRange();
    range.selectNodeContents(el); range.collapse(!model);
    if (host.contains(document.activeElement)) { sel.removeAllRanges(); sel.addRange(range); }
  };
  host.addEventListener("beforeinput", e => {
    e.preventDefault();
    const sel = window.getSelection();
    const all = sel && !sel.isCollapsed && sel.toString().length >= model.length;
    const t = e.inputType;
    if (t === "insertText" || t === "insertFromPaste" || t === "insertReplacementText") {
      const data = e.data ?? (e.dataTransfer && e.dataTransfer.getData("text/plain")) ?? "";
      model = (all ? "" : model) + data;
    } else if (t === "insertParagraph" || t === "insertLineBreak") {
      model = (all ? "" : model) + "\n";
    } else if (t.startsWith("delete")) {
      model = all ? "" : model.slice(0, -1);
    }
    render(); onChange(model);
  });
  render();
  return {get: () => model, set: v => { model = v; render(); onChange(model); }};
}
function fakeUpload(url, file, on) {
  const xhr = new XMLHttpRequest();
  xhr.open("POST", url);
  xhr.upload.onprogress = e => on.progress(Math.floor(100 * e.loaded / Math.max(e.total, 1)));
  xhr.onerror = () => on.failed(null);
  xhr.onload = () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (e) {}
    if (xhr.status === 200) on.done(body); else on.failed(body.error || "Something went wrong");
  };
  xhr.send(file);
}
</script>
"""
