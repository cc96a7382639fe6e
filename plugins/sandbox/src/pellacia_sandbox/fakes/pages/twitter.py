"""X's web composer, as the X fake serves it under ``/twitter``.

Pages: ``/home`` (an inline composer: ``tweetTextarea_0`` + ``tweetButtonInline``),
``/compose/post`` (the same page plus a ``role=dialog`` composer with
**another** ``tweetTextarea_0`` and ``tweetButton``: the dual-surface trap),
``/i/flow/login`` (the login wall) and ``/<user>`` (the profile:
``article[data-testid=tweet]`` with ``a[href*="/status/<id>"]``). In each
composer: a Draft.js editor whose model changes only from real input events,
a hidden ``input[data-testid=fileInput]`` plus the "Add photos or video"
button (not an input); after a file, ``[data-testid=attachments]`` with a
``role=progressbar`` while uploading and ``data-testid=videoPlayer`` when
processed; ``tweetButton`` ``disabled``/``aria-disabled`` until then. On
success the dialog closes, the URL goes to ``/home`` and
``[data-testid=toast]`` says "Your post was sent." with a link to the post.
The post is a tweet with its media in the fake's state (API timeline, lookups).

Modes (``POST /twitter/_sandbox/web``): ``login_wall``, ``captcha``
("Authenticate your account"), ``too_many`` ("This request looks like it
might be automated"), ``overlay`` (a cookie-consent sheet over the page),
``processing_ms``, ``drop_upload``, ``lose_confirmation``.
"""

from __future__ import annotations

import html as htmlmod
import json
import secrets
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pellacia_sandbox.fakes.pages.common import (
    PAGE_JS,
    SESSION_COOKIE,
    UploadPages,
    html,
    receive_upload,
)

if TYPE_CHECKING:
    from pellacia_sandbox.fakes.twitter import TwitterFake


class XWeb(UploadPages):
    """The composer and profile pages, bound to the X fake's tweets."""

    label = "X"

    def __init__(self, fake: TwitterFake) -> None:
        super().__init__(fake)
        self.fake: TwitterFake = fake

    def setup(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/i/flow/login", self._login_page)
        r.add_post("/i/flow/login", self._login)
        r.add_get("/home", self._home)
        r.add_get("/compose/post", self._home)
        r.add_post("/i/web/upload", self._upload)
        r.add_post("/i/web/post", self._post)
        r.add_post("/_sandbox/web", self._configure_http)
        r.add_get("/{user:[A-Za-z0-9_-]{1,40}}", self._profile)

    def _wall(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(self.fake.url(f"/i/flow/login?redirect_after_login={request.path}"))

    async def _login_page(self, request: web.Request) -> web.Response:
        return html(LOGIN_HTML, "Log in to X / X")

    async def _login(self, request: web.Request) -> web.Response:
        form = await request.post()
        response = web.HTTPFound(self.fake.url("/home"))
        account = str(form.get("text") or self.fake.config["default_account"])
        response.set_cookie(SESSION_COOKIE, self.sessions.issue(account), httponly=True)
        raise response

    async def _home(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self._wall(request)
        modal = request.path.endswith("/compose/post")
        page = (CAPTCHA_HTML if self.config["captcha"] else "") + PAGE_JS + HOME_HTML
        settings = {
            **{k: self.config[k] for k in ("overlay", "processing_ms")},
            "modal": modal,
            "user": account,
        }
        page = page.replace("__SETTINGS__", json.dumps(settings))
        page = page.replace("__BASE__", self.fake.url(""))
        page = page.replace("__USER__", htmlmod.escape(account))
        return html(page, "Home / X")

    async def _profile(self, request: web.Request) -> web.Response:
        user = request.match_info["user"]
        if self._account(request) is None:
            return self._wall(request)
        articles = "".join(
            f'<article data-testid=tweet class="a-{secrets.token_hex(2)}">'
            f"<div data-testid=tweetText>{htmlmod.escape(t.text)}</div>"
            f'<a href="/{htmlmod.escape(t.account)}/status/{t.id}"><time>now</time></a></article>'
            for t in reversed(self.fake.tweets)
            if t.account == user
        )
        return html(f"<main role=main><h2>{htmlmod.escape(user)}</h2>{articles}</main>", user)

    async def _upload(self, request: web.Request) -> web.Response:
        if self._account(request) is None:
            return web.json_response({"error": "login required"}, status=401)
        if self.config["too_many"]:
            return web.json_response(
                {
                    "error": "This request looks like it might be automated. To protect our "
                    "users from spam and other malicious activity, we can't complete this "
                    "action right now."
                },
                status=403,
            )
        received = await receive_upload(request, drop=bool(self.config["drop_upload"]))
        media_id = str(1_800_000_000_000_000_000 + next(self.fake._seq))
        self.uploads[media_id] = received
        return web.json_response({"media_id": media_id})

    async def _post(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return web.json_response({"error": "login required"}, status=401)
        body = await request.json()
        upload = self.uploads.get(str(body.get("media_id")))
        text = str(body.get("text") or "")
        if upload is None and not text.strip():
            return web.json_response({"error": "empty post"}, status=400)
        tweet_id = self._store(account, text, str(body.get("media_id")), upload)
        if self.config["lose_confirmation"]:
            return web.Response(status=504, text="upstream request timeout")
        return web.json_response({"id": tweet_id, "user": account})

    def _store(self, account: str, text: str, media_id: str, upload: Any) -> str:
        """The tweet and its processed video, as ``POST /2/tweets`` leaves them."""
        from pellacia_sandbox.fakes.twitter import _Media, _Tweet

        fake, now = self.fake, self.fake.clock.time()
        media = []
        if upload is not None:
            medium = _Media(
                id=media_id,
                media_key=f"7_{media_id}",
                account=account,
                media_type="video/mp4",
                category="tweet_video",
                total_bytes=upload["size"],
                created_at=now,
                expires_at=now + 86400,
                bytes_received=upload["size"],
                finalized=True,
                state="succeeded",
                sha256=upload["sha256"],
                size=upload["size"],
            )
            fake.media[media_id] = medium
            media.append(medium)
        tweet = _Tweet(
            id=str(1_900_000_000_000_000_000 + next(fake._seq)),
            account=account,
            text=text,
            created_at=max([now, *(t.created_at + 0.001 for t in fake.tweets)]),
            media=media,
        )
        fake.tweets.append(tweet)
        return tweet.id


LOGIN_HTML = """
<h1>Sign in to X</h1>
<form method=post action=""><input name=text autocomplete=username
  aria-label="Phone, email, or username"><button type=submit>Next</button></form>"""

CAPTCHA_HTML = """
<div role=dialog aria-label="Authenticate your account" id=arkose
  style="position:fixed;inset:0;z-index:1000;background:#fff">
  <h1>Authenticate your account</h1><p>Solve this puzzle to continue</p></div>"""

#: one composer, rendered twice (inline on the timeline, and in the compose dialog)
COMPOSER = """
<div class="composer c-__N__" data-surface=__SURFACE__>
  <div class="DraftEditor-root"><div class="public-DraftEditor-content" contenteditable=true
    role=textbox aria-label="Post text" data-testid=tweetTextarea_0></div></div>
  <div data-testid=attachments class=hidden></div>
  <input type=file data-testid=fileInput class=hidden
    accept="image/jpeg,image/png,image/webp,image/gif,video/mp4,video/quicktime">
  <button type=button aria-label="Add photos or video">&#128247;</button>
  <button type=button data-testid=__BUTTON__ disabled aria-disabled=true>Post</button>
</div>"""

HOME_HTML = (
    """
<style>.hidden{display:none} .sheet{position:fixed;left:0;right:0;bottom:0;top:0;z-index:400;
  background:#0005}</style>
<nav><a data-testid=AppTabBar_Profile_Link href="/__USER__">Profile</a></nav>
<main role=main><h2>Home</h2>"""
    + COMPOSER.replace("__N__", "1")
    .replace("__SURFACE__", "inline")
    .replace("__BUTTON__", "tweetButtonInline")
    + """<div class=timeline></div></main>
<template id=modal><div role=dialog aria-modal=true aria-label="Compose post">"""
    + COMPOSER.replace("__N__", "2")
    .replace("__SURFACE__", "modal")
    .replace("__BUTTON__", "tweetButton")
    + """</div></template>
<div data-testid=toast role=alert class=hidden></div>
<script>
(() => {
  const S = __SETTINGS__, BASE = "__BASE__";
  function toast(text, link) {
    const t = document.querySelector('[data-testid="toast"]');
    t.classList.remove("hidden");
    t.innerHTML = "<span></span>" + (link ? ' <a href="' + link + '">View</a>' : "");
    t.firstChild.textContent = text;
  }
  function composer(root, onSent) {
    const button = root.querySelector("button[data-testid^=tweetButton]");
    const input = root.querySelector('[data-testid="fileInput"]');
    const box = root.querySelector('[data-testid="attachments"]');
    let mediaId = null, uploading = false, blocked = !!S.overlay;
    const editor = fakeEditor(root.querySelector('[data-testid="tweetTextarea_0"]'), "", render);
    function render() {
      const ok = !uploading && !blocked && (editor.get().trim() !== "" || mediaId !== null);
      button.disabled = !ok; button.setAttribute("aria-disabled", String(!ok));
    }
    root.querySelector('[aria-label="Add photos or video"]').onclick = () => input.click();
    input.addEventListener("change", () => {
      const file = input.files[0]; if (!file) return;
      uploading = true; render();
      box.classList.remove("hidden");
      box.innerHTML = '<div role=group><div role=progressbar aria-valuenow=0></div>' +
        '<button type=button aria-label="Remove media">x</button></div>';
      const bar = box.querySelector("[role=progressbar]");
      fakeUpload(BASE + "/i/web/upload", file, {
        progress: p => bar.setAttribute("aria-valuenow", p),
        failed: msg => {
          box.innerHTML = ""; box.classList.add("hidden"); input.value = "";
          uploading = false; render(); toast(msg || "Upload failed. Please try again.");
        },
        done: body => setTimeout(() => {
          mediaId = body.media_id; uploading = false;
          bar.outerHTML = '<div data-testid=videoPlayer>video</div>'; render();
        }, S.processing_ms),
      });
    });
    button.addEventListener("click", async () => {
      if (button.disabled) return;
      button.disabled = true;
      try {
        const r = await fetch(BASE + "/i/web/post", {method: "POST",
          headers: {"Content-Type": "application/json"},
          body: JSON.stringify({text: editor.get(), media_id: mediaId})});
        if (!r.ok) throw new Error(String(r.status));
        const body = await r.json();
        onSent(); toast("Your post was sent.", "/" + body.user + "/status/" + body.id);
      } catch (e) { toast("Something went wrong, but don't fret — let's give it another shot."); render(); }
    });
    return () => { blocked = false; render(); };
  }
  const unblock = [composer(document.querySelector(".composer"), () => {})];
  if (S.modal) {
    const tpl = document.getElementById("modal").content.cloneNode(true);
    document.body.appendChild(tpl);
    const dialog = document.querySelector('[role="dialog"][aria-label="Compose post"]');
    unblock.push(composer(dialog, () => { dialog.remove(); history.pushState({}, "", BASE + "/home"); }));
  }
  if (S.overlay) {
    const sheet = document.createElement("div"); sheet.className = "sheet";
    sheet.innerHTML = '<div role=dialog aria-label="Did someone say … cookies?">' +
      '<button type=button>Accept all cookies</button><button type=button>Refuse non-essential cookies</button></div>';
    sheet.querySelectorAll("button").forEach(b => b.onclick = () => { sheet.remove(); unblock.forEach(f => f()); });
    document.body.appendChild(sheet);
  }
})();
</script>"""
)
