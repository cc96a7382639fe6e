"""Instagram's web "Create" flow, as the Instagram fake serves it under ``/instagram``.

Pages: ``/`` (the nav with a "Create" link and a "Profile" link), ``/accounts/login/``
(the login wall: ``form#loginForm``), ``/<handle>/`` (the profile grid:
``main[role=main] a[href="/reel/<code>/"]``) and ``/reel/<code>/`` (with
``<meta property="al:ios:url" content="instagram://media?id=<media id>">`` as
the real page has). Create → Post opens ``div[role=dialog]`` "Create new post"
(browser-flows.md §8): "Select from computer" and a hidden
``input[type=file][accept*="video/mp4"]`` (a decoy file input sits in the nav);
then the notice "Video posts are now shared as reels" (OK), "Crop" and "Edit"
with a header ``div[role=button]`` "Next" each (a hidden duplicate "Next" too),
then "New reel" with the caption ``div[aria-label="Write a caption..."]``
(model from real input events only) and "Share", enabled once the video is
processed. After Share: a "Sharing" dialog, then "Your reel has been shared."
with an animated checkmark. The reel is media of the fake's state (API media
list, reconcile, insights).

Modes (``POST /instagram/_sandbox/web``): ``login_wall``, ``captcha`` (a
checkpoint "Help us confirm it's you"), ``too_many`` ("Action blocked"),
``overlay`` ("Turn on notifications", Not Now), ``processing_ms``,
``drop_upload``, ``lose_confirmation``.
"""

from __future__ import annotations

import html as htmlmod
import json
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
    from pellacia_sandbox.fakes.instagram import InstagramFake


def shortcode(media_id: str) -> str:
    return media_id[-11:]


class InstagramWeb(UploadPages):
    """The Create flow and profile pages, bound to the Instagram fake's media."""

    label = "Instagram"

    def __init__(self, fake: InstagramFake) -> None:
        super().__init__(fake)
        self.fake: InstagramFake = fake

    def setup(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/", self._home)
        r.add_get("/accounts/login/", self._login_page)
        r.add_post("/accounts/login/", self._login)
        r.add_post("/web/upload", self._upload)
        r.add_post("/web/share", self._share)
        r.add_post("/_sandbox/web", self._configure_http)
        r.add_get("/reel/{code}/", self._reel)
        r.add_get("/{handle:[A-Za-z0-9_.]+}/", self._profile)

    def _wall(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(self.fake.url(f"/accounts/login/?next={request.path}"))

    async def _login_page(self, request: web.Request) -> web.Response:
        return html(LOGIN_HTML, "Login • Instagram")

    async def _login(self, request: web.Request) -> web.Response:
        form = await request.post()
        response = web.HTTPFound(self.fake.url("/"))
        account = str(form.get("username") or "sandbox-account")
        response.set_cookie(SESSION_COOKIE, self.sessions.issue(account), httponly=True)
        raise response

    async def _home(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self._wall(request)
        page = (CAPTCHA_HTML if self.config["captcha"] else "") + PAGE_JS + HOME_HTML
        settings = {k: self.config[k] for k in ("overlay", "processing_ms")}
        page = page.replace("__SETTINGS__", json.dumps(settings))
        page = page.replace("__BASE__", self.fake.url("/web"))
        page = page.replace("__HANDLE__", htmlmod.escape(self.fake.person(account).ig_username))
        return html(page, "Instagram")

    async def _profile(self, request: web.Request) -> web.Response:
        if self._account(request) is None:
            return self._wall(request)
        handle = request.match_info["handle"]
        mine = [
            m
            for m in reversed(self.fake.media.values())
            if self.fake.person(m["account"]).ig_username == handle
        ]
        grid = "".join(
            f'<a href="/reel/{shortcode(m["id"])}/" role=link><img alt="'
            f'{htmlmod.escape(m["caption"])}"></a>'
            for m in mine
        )
        return html(f"<main role=main><h2>{htmlmod.escape(handle)}</h2>{grid}</main>", handle)

    async def _reel(self, request: web.Request) -> web.Response:
        code = request.match_info["code"]
        media = next((m for m in self.fake.media.values() if shortcode(m["id"]) == code), None)
        if media is None:
            raise web.HTTPNotFound
        meta = f'<meta property="al:ios:url" content="instagram://media?id={media["id"]}">'
        caption = f"<h1>{htmlmod.escape(media['caption'])}</h1>"
        return web.Response(
            text=f"<!doctype html><html><head>{meta}<title>Instagram</title></head>"
            f"<body>{caption}</body></html>",
            content_type="text/html",
        )

    async def _upload(self, request: web.Request) -> web.Response:
        if self._account(request) is None:
            return web.json_response({"error": "login required"}, status=401)
        if self.config["too_many"]:
            return web.json_response({"error": "Action blocked. Try again later."}, status=400)
        received = await receive_upload(request, drop=bool(self.config["drop_upload"]))
        upload_id = self.fake.new_id()
        self.uploads[upload_id] = received
        return web.json_response({"upload_id": upload_id})

    async def _share(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return web.json_response({"error": "login required"}, status=401)
        body = await request.json()
        upload = self.uploads.get(str(body.get("upload_id")))
        if upload is None:
            return web.json_response({"error": "no video"}, status=400)
        media_id = self._store(account, str(body.get("caption") or ""), upload)
        if self.config["lose_confirmation"]:
            return web.Response(status=504, text="upstream request timeout")
        return web.json_response({"code": shortcode(media_id)})

    def _store(self, account: str, caption: str, upload: dict[str, Any]) -> str:
        """The reel, shaped as ``media_publish`` leaves it (the dict the API reads)."""
        fake = self.fake
        person, media_id = fake.person(account), fake.new_id()
        fake.media[media_id] = {
            "id": media_id,
            "container_id": None,
            "ig_user": person.ig_id,
            "account": account,
            "caption": caption,
            "bytes": upload["size"],
            "sha256": upload["sha256"],
            "permalink": fake.url(f"/reel/{shortcode(media_id)}/"),
            "published_at": fake.clock.time(),
        }
        return media_id


LOGIN_HTML = """
<form id=loginForm method=post action=""><input name=username aria-label="Phone number,
  username, or email"><input name=password type=password><button type=submit>Log in</button></form>"""

CAPTCHA_HTML = """
<div role=dialog aria-label="Help us confirm it's you" id=checkpoint
  style="position:fixed;inset:0;z-index:1000;background:#fff">
  <h1>Help us confirm it's you</h1></div>"""

HOME_HTML = """
<style>.hidden{display:none} .ov{position:fixed;inset:0;z-index:500;background:#0006}
  [role=dialog]{background:#fff}</style>
<nav>
  <input type=file accept="image/jpeg" class=hidden>
  <a href="#" role=link id=create><svg aria-label="New post"></svg><span>Create</span></a>
  <div class="create-menu hidden"><a href="#" role=link id=create-post>Post</a></div>
  <a href="/__HANDLE__/" role=link>Profile</a>
</nav>
<div role=dialog aria-label="Create new post" class="create hidden">
  <div class=st-select><h1>Create new post</h1>
    <button type=button>Select from computer</button>
    <input type=file accept="video/mp4,video/quicktime" class=hidden></div>
  <div class="st-notice hidden"><p>Video posts are now shared as reels</p>
    <button type=button>OK</button></div>
  <div class="st-crop hidden"><h1>Crop</h1><div role=button tabindex=0 class=next>Next</div>
    <div role=button tabindex=0 class=hidden>Next</div></div>
  <div class="st-edit hidden"><h1>Edit</h1><div role=button tabindex=0 class=next>Next</div></div>
  <div class="st-final hidden"><h1>New reel</h1>
    <div aria-label="Write a caption..." contenteditable=true role=textbox></div>
    <div role=button tabindex=0 aria-disabled=true class=share>Share</div></div>
</div>
<div class=results></div>
<script>
(() => {
  const S = __SETTINGS__, BASE = "__BASE__", $ = s => document.querySelector(s);
  const dialog = $(".create"), input = $('.st-select input[type=file]'), share = $(".share");
  let uploadId = null, processed = false, blocked = false;
  const caption = fakeEditor($('[aria-label="Write a caption..."]'), "", render);
  function render() {
    const ok = processed && !blocked; share.setAttribute("aria-disabled", String(!ok));
  }
  function show(step) {
    ["select", "notice", "crop", "edit", "final"].forEach(s =>
      $(".st-" + s).classList.toggle("hidden", s !== step));
  }
  function result(html) {
    const d = document.createElement("div"); d.setAttribute("role", "dialog"); d.innerHTML = html;
    $(".results").replaceChildren(d); return d;
  }
  $("#create").onclick = e => { e.preventDefault(); $(".create-menu").classList.remove("hidden"); };
  $("#create-post").onclick = e => {
    e.preventDefault(); dialog.classList.remove("hidden");
    if (S.overlay) {
      blocked = true;
      const o = document.createElement("div"); o.className = "ov";
      o.innerHTML = '<div role=dialog aria-label="Turn on notifications"><button type=button>Not Now</button></div>';
      o.querySelector("button").onclick = () => { o.remove(); blocked = false; render(); };
      document.body.appendChild(o);
    }
  };
  $(".st-select button").onclick = () => input.click();
  input.addEventListener("change", () => {
    const file = input.files[0]; if (!file) return;
    show("notice");
    fakeUpload(BASE + "/upload", file, {
      progress: () => {},
      failed: msg => { show("select"); input.value = "";
        result("<p>" + (msg || "Upload failed. Something went wrong.") + "</p>"); },
      done: body => { uploadId = body.upload_id;
        setTimeout(() => { processed = true; render(); }, S.processing_ms); },
    });
  });
  $(".st-notice button").onclick = () => show("crop");
  $(".st-crop .next").onclick = () => show("edit");
  $(".st-edit .next").onclick = () => show("final");
  share.addEventListener("click", async () => {
    if (share.getAttribute("aria-disabled") === "true") return;
    share.setAttribute("aria-disabled", "true");
    result('<div aria-label="Sharing"><h1>Sharing</h1></div>');
    try {
      const r = await fetch(BASE + "/share", {method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({upload_id: uploadId, caption: caption.get()})});
      if (!r.ok) throw new Error(String(r.status));
      await r.json();
      dialog.classList.add("hidden");
      result('<h1>Reel shared</h1><svg aria-label="Animated checkmark"></svg>' +
        '<p>Your reel has been shared.</p><button type=button>Close</button>');
    } catch (e) { result("<p>Something went wrong. Please try again.</p>"); render(); }
  });
})();
</script>"""
