"""What every fake upload page shares: web sessions (a cookie per signed-in browser)."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

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
