"""Facebook's Page reel composer, as the Facebook fake serves it under ``/facebook``.

Pages: ``/reels/create/`` (the composer), ``/login/`` (the login wall:
``[data-testid=royal_login_form]``) and ``/<page id>/reels`` (the Page's reels:
``a[href*="/reel/<id>"]``). The composer (browser-flows.md §8): the profile
switcher ``div[aria-label="Your profile"][role=button]`` opens a dialog listing
``div[role=button][aria-label="<Page name>"]``; choosing the Page shows
``#switching-info-container`` for a moment, then ``a[role=link][href="/me/"]``
names it; the composer acts for the personal profile until then.
``div[aria-label="Reels"][role=form]`` holds a hidden ``input[type=file]``
(a decoy image input sits beside it), then ``div[aria-label="Next"][role=button]``
twice, then the caption ("Describe your reel...", input events only) and
``div[aria-label="Post"][role=button]``, ``aria-disabled`` until the video is
processed and the Page is the active profile. After Post: "Publishing", then
the toast "Your reel is live". The reel is a video of the fake's state (API
reads, reconcile, insights).

Modes (``POST /facebook/_sandbox/web``): ``login_wall``, ``captcha`` (a
``/checkpoint/`` page), ``too_many`` ("You're Temporarily Blocked"), ``overlay``
(a cookie dialog), ``processing_ms``, ``drop_upload``, ``lose_confirmation``.
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
    from pellacia_sandbox.fakes.facebook import FacebookFake


class FacebookWeb(UploadPages):
    """The reel composer and the Page's reels tab, bound to the Facebook fake's videos."""

    label = "Facebook"

    def __init__(self, fake: FacebookFake) -> None:
        super().__init__(fake)
        self.fake: FacebookFake = fake

    def setup(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/login/", self._login_page)
        r.add_post("/login/", self._login)
        r.add_get("/checkpoint/", self._checkpoint)
        r.add_get("/reels/create/", self._composer)
        r.add_post("/web/upload", self._upload)
        r.add_post("/web/publish", self._publish)
        r.add_post("/_sandbox/web", self._configure_http)
        r.add_get(r"/{page:\d+}/reels", self._reels)

    def _wall(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(self.fake.url(f"/login/?next={request.path}"))

    async def _login_page(self, request: web.Request) -> web.Response:
        return html(LOGIN_HTML, "Log in to Facebook")

    async def _login(self, request: web.Request) -> web.Response:
        form = await request.post()
        response = web.HTTPFound(self.fake.url("/reels/create/"))
        account = str(form.get("email") or "sandbox-account")
        response.set_cookie(SESSION_COOKIE, self.sessions.issue(account), httponly=True)
        raise response

    async def _checkpoint(self, request: web.Request) -> web.Response:
        return html("<h1>Confirm your identity</h1><p>Security check</p>", "Security check")

    async def _composer(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self._wall(request)
        if self.config["captcha"]:
            raise web.HTTPFound(self.fake.url("/checkpoint/?next=/reels/create/"))
        person = self.fake.person(account)
        page = PAGE_JS + COMPOSER_HTML
        settings = {
            **{k: self.config[k] for k in ("overlay", "processing_ms")},
            "user": account,
            "page": person.page_name,
        }
        page = page.replace("__SETTINGS__", json.dumps(settings))
        page = page.replace("__BASE__", self.fake.url("/web"))
        page = page.replace("__PAGE__", htmlmod.escape(person.page_name))
        page = page.replace("__USER__", htmlmod.escape(account))
        page = page.replace("__PAGE_ID__", person.page_id)
        return html(page, "Create reel | Facebook")

    async def _reels(self, request: web.Request) -> web.Response:
        if self._account(request) is None:
            return self._wall(request)
        page_id = request.match_info["page"]
        links = "".join(
            f"<div class=reel><span class=caption>{htmlmod.escape(v['description'])}</span>"
            f'<a href="/reel/{v["id"]}" role=link>Reel</a></div>'
            for v in reversed(self.fake.videos.values())
            if v["page_id"] == page_id and v["kind"] == "reel" and v["published"]
        )
        return html(f"<main role=main><h1>Reels</h1>{links}</main>", "Reels | Facebook")

    async def _upload(self, request: web.Request) -> web.Response:
        if self._account(request) is None:
            return web.json_response({"error": "login required"}, status=401)
        if self.config["too_many"]:
            return web.json_response(
                {"error": "You're Temporarily Blocked. It looks like you were misusing this "
                 "feature by going too fast."},
                status=400,
            )  # fmt: skip
        received = await receive_upload(request, drop=bool(self.config["drop_upload"]))
        upload_id = self.fake.new_id()
        self.uploads[upload_id] = received
        return web.json_response({"upload_id": upload_id})

    async def _publish(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return web.json_response({"error": "login required"}, status=401)
        body = await request.json()
        upload = self.uploads.get(str(body.get("upload_id")))
        if upload is None or body.get("as") != self.fake.person(account).page_name:
            return web.json_response({"error": "no video, or not acting as the Page"}, status=400)
        video_id = self._store(account, str(body.get("caption") or ""), upload)
        if self.config["lose_confirmation"]:
            return web.Response(status=504, text="upstream request timeout")
        return web.json_response({"video_id": video_id})

    def _store(self, account: str, caption: str, upload: dict[str, Any]) -> str:
        """The published reel, as the Reels API's finish leaves it (the dict the API reads)."""
        fake = self.fake
        person = fake.person(account)
        video = fake._new_video(person, "reel")
        now = fake.clock.time()
        stored = fake.uploads[video["id"]]
        stored.file_size = stored.offset = stored.bytes_received = upload["size"]
        stored.sha, stored.head = upload["hasher"], upload["head"]
        stored.completed_at = now - 3600  # processed while the composer waited
        video.update(
            description=caption,
            finish_requested=True,
            state="PUBLISHED",
            post_id=f"{person.page_id}_{video['id']}",
            finished_at=now,
            published=True,
        )
        return str(video["id"])


LOGIN_HTML = """
<form data-testid=royal_login_form method=post action="">
  <input name=email aria-label="Email address or phone number"><input name=pass type=password>
  <button type=submit name=login>Log in</button></form>"""

COMPOSER_HTML = """
<style>.hidden{display:none} .ov{position:fixed;inset:0;z-index:500;background:#0006}</style>
<header>
  <div aria-label="Your profile" role=button tabindex=0>Profile</div>
  <a role=link href="/me/" class=active-profile>__USER__</a>
  <div id=switching-info-container class=hidden>Switching profiles…</div>
</header>
<div role=dialog aria-label="Your profile" class="switcher hidden">
  <span>See all profiles</span>
  <div role=list><div role=button tabindex=0 aria-label="__PAGE__" class=pick>__PAGE__
    <a href="/__PAGE_ID__/" role=link class=page-link>Visit</a></div></div>
</div>
<div aria-label="Reels" role=form>
  <div class=st-upload><input type=file accept="image/*" class=hidden>
    <div role=button tabindex=0 class=add-video>Add video</div>
    <input type=file accept="video/*,video/mp4" class=hidden id=reel-input>
    <p class=status></p></div>
  <div class="st-next hidden"><div aria-label="Next" role=button tabindex=0 class=next>Next</div></div>
  <form method=POST class="st-final hidden" onsubmit="return false">
    <div contenteditable=true role=textbox aria-label="Describe your reel..."></div>
    <div aria-label="Post" role=button tabindex=0 aria-disabled=true class=post>Post</div>
  </form>
</div>
<div class=toasts></div>
<script>
(() => {
  const S = __SETTINGS__, BASE = "__BASE__", $ = s => document.querySelector(s);
  const input = $("#reel-input"), post = $(".post");
  let acting = S.user, uploadId = null, processed = false, nexts = 0, blocked = !!S.overlay;
  $(".active-profile").textContent = S.user;
  const caption = fakeEditor($('[aria-label="Describe your reel..."]'), "", render);
  function render() {
    const ok = processed && acting === S.page && !blocked;
    post.setAttribute("aria-disabled", String(!ok));
  }
  function toast(text) {
    const t = document.createElement("div"); t.setAttribute("role", "status");
    t.textContent = text; $(".toasts").replaceChildren(t);
  }
  $('[aria-label="Your profile"][role=button]').onclick = () => $(".switcher").classList.remove("hidden");
  $(".pick").onclick = () => {
    $(".switcher").classList.add("hidden");
    $("#switching-info-container").classList.remove("hidden");
    setTimeout(() => {
      $("#switching-info-container").classList.add("hidden");
      acting = S.page; $(".active-profile").textContent = S.page; render();
    }, 500);
  };
  $(".add-video").onclick = () => input.click();
  input.addEventListener("change", () => {
    const file = input.files[0]; if (!file) return;
    $(".status").textContent = "Uploading";
    fakeUpload(BASE + "/upload", file, {
      progress: p => $(".status").textContent = "Uploading " + p + "%",
      failed: msg => { input.value = ""; $(".status").textContent = msg || "Upload failed";
        if (msg) toast(msg); },
      done: body => { uploadId = body.upload_id; $(".status").textContent = "Processing";
        $(".st-next").classList.remove("hidden");
        setTimeout(() => { processed = true; $(".status").textContent = "Processed"; render(); },
          S.processing_ms); },
    });
  });
  $(".next").onclick = () => {
    nexts += 1;
    if (nexts === 2) { $(".st-next").classList.add("hidden"); $(".st-final").classList.remove("hidden"); }
  };
  post.addEventListener("click", async () => {
    if (post.getAttribute("aria-disabled") === "true") return;
    post.setAttribute("aria-disabled", "true"); toast("Publishing");
    try {
      const r = await fetch(BASE + "/publish", {method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({upload_id: uploadId, caption: caption.get(), as: acting})});
      if (!r.ok) throw new Error(String(r.status));
      toast("Your reel is live");
    } catch (e) { toast("Something went wrong. Please try again."); render(); }
  });
  if (S.overlay) {
    const d = document.createElement("div"); d.className = "ov";
    d.innerHTML = '<div role=dialog aria-label="Allow the use of cookies from Facebook on this browser?">' +
      '<button type=button>Decline optional cookies</button><button type=button>Allow all cookies</button></div>';
    d.querySelectorAll("button").forEach(b => b.onclick = () => { d.remove(); blocked = false; render(); });
    document.body.appendChild(d);
  }
})();
</script>"""
