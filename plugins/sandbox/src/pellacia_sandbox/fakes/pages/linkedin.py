"""LinkedIn's share box, as the LinkedIn fake serves it under ``/linkedin``.

Pages: ``/feed/`` (``.global-nav__me`` and a "Start a post" button opening the
composer ``div[role=dialog].artdeco-modal``), ``/login`` (the login wall:
``#username``), ``/in/<member>/recent-activity/all/`` (the member's posts).
The composer (browser-flows.md §8): a Quill-like ``.ql-editor[role=textbox]``
whose model changes only from real input events; "Add media" opens a media
editor with a hidden ``input#media-editor-file-selector__file-input`` and a
decoy image input, progress, then "Next" back to the composer with a preview;
``button.share-actions__primary-action`` "Post" ``disabled`` until the text is
set and the video processed. Success: the modal closes and
``.artdeco-toast-item--visible`` says "Post successful." with "View post"
linking ``/feed/update/<urn>/``. The post (and its video) are in the fake's
state (API ``posts`` reads, reconcile, analytics).

Modes (``POST /linkedin/_sandbox/web``): ``login_wall``, ``captcha`` ("Let's do a
quick security check"), ``too_many`` ("temporarily restricted"), ``overlay`` (a
"Try Premium" dialog over the feed), ``processing_ms``, ``drop_upload``,
``lose_confirmation``.
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
    from pellacia_sandbox.fakes.linkedin import LinkedInFake


class LinkedInWeb(UploadPages):
    """The feed's share box and the member's activity page, bound to the fake's posts."""

    label = "LinkedIn"

    def __init__(self, fake: LinkedInFake) -> None:
        super().__init__(fake)
        self.fake: LinkedInFake = fake

    def setup(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/login", self._login_page)
        r.add_post("/login", self._login)
        r.add_get("/feed/", self._feed)
        r.add_get("/in/{member}/recent-activity/all/", self._activity)
        r.add_post("/voyager/api/upload", self._upload)
        r.add_post("/voyager/api/share", self._share)
        r.add_post("/_sandbox/web", self._configure_http)

    def _wall(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(self.fake.url(f"/login?session_redirect={request.path}"))

    async def _login_page(self, request: web.Request) -> web.Response:
        return html(LOGIN_HTML, "LinkedIn Login, Sign in | LinkedIn")

    async def _login(self, request: web.Request) -> web.Response:
        form = await request.post()
        response = web.HTTPFound(self.fake.url("/feed/"))
        account = str(form.get("session_key") or self.fake.config["default_account"])
        response.set_cookie(SESSION_COOKIE, self.sessions.issue(account), httponly=True)
        raise response

    async def _feed(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self._wall(request)
        page = (CAPTCHA_HTML if self.config["captcha"] else "") + PAGE_JS + FEED_HTML
        settings = {k: self.config[k] for k in ("overlay", "processing_ms")}
        page = page.replace("__SETTINGS__", json.dumps(settings))
        page = page.replace("__BASE__", self.fake.url("/voyager/api"))
        page = page.replace("__MEMBER__", htmlmod.escape(account))
        return html(page, "Feed | LinkedIn")

    async def _activity(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self._wall(request)
        member = request.match_info["member"]
        items = "".join(
            f'<div class="feed-shared-update-v2 u-{secrets.token_hex(2)}" data-urn="{p.urn}">'
            f'<div class="update-components-text">{htmlmod.escape(p.commentary)}</div>'
            f'<a href="/feed/update/{p.urn}/">View post</a></div>'
            for p in sorted(self.fake.posts.values(), key=lambda p: -p.created_ms)
            if p.account == member
        )
        return html(f"<main><h1>All activity</h1>{items}</main>", "Activity | LinkedIn")

    async def _upload(self, request: web.Request) -> web.Response:
        if self._account(request) is None:
            return web.json_response({"error": "login required"}, status=401)
        if self.config["too_many"]:
            return web.json_response(
                {"error": "Access to your account has been temporarily restricted"}, status=403
            )
        received = await receive_upload(request, drop=bool(self.config["drop_upload"]))
        upload_id = secrets.token_hex(8)
        self.uploads[upload_id] = received
        return web.json_response({"upload_id": upload_id})

    async def _share(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return web.json_response({"error": "login required"}, status=401)
        body = await request.json()
        upload = self.uploads.get(str(body.get("upload_id")))
        text = str(body.get("text") or "")
        if upload is None or not text.strip():
            return web.json_response({"error": "text and video needed"}, status=400)
        urn = self._store(account, text, upload)
        if self.config["lose_confirmation"]:
            return web.Response(status=504, text="upstream request timeout")
        return web.json_response({"urn": urn})

    def _store(self, account: str, text: str, upload: dict[str, Any]) -> str:
        """The post and its available video, as the Posts and Videos APIs leave them."""
        from pellacia_sandbox.fakes.linkedin import _Part, _Post, _Video, person_id

        fake, n = self.fake, next(self.fake._seq)
        author = f"urn:li:person:{person_id(account)}"
        video = _Video(
            urn=f"urn:li:video:D4E{n:016d}",
            asset=f"web-{n}",
            owner=author,
            account=account,
            size=upload["size"],
            upload_token="",
            expires_at=fake.clock.time(),
            parts=[_Part(0, upload["size"] - 1, "", etag="web", sha256=upload["sha256"])],
            status="AVAILABLE",
            bytes_received=upload["size"],
            sha256=upload["sha256"],
        )
        fake.videos[video.urn] = video
        post = _Post(
            urn=f"urn:li:ugcPost:{7100000000000000000 + n}",
            author=author,
            account=account,
            commentary=text,
            title="",
            video=video.urn,
            visibility="PUBLIC",
            created_ms=fake._now_ms(),
            seed=n,
        )
        fake.posts[post.urn] = post
        return post.urn


LOGIN_HTML = """
<h1>Sign in</h1>
<form method=post action=""><input id=username name=session_key aria-label="Email or phone">
<input id=password type=password name=session_password><button type=submit>Sign in</button></form>"""

CAPTCHA_HTML = """
<div role=dialog aria-label="Security verification" id=captcha-internal
  style="position:fixed;inset:0;z-index:1000;background:#fff">
  <h1>Let's do a quick security check</h1></div>"""

FEED_HTML = """
<style>.hidden{display:none} .ov{position:fixed;inset:0;z-index:500;background:#0006}</style>
<header><div class="global-nav__me"><a href="/in/__MEMBER__/">Me</a></div></header>
<main><div role=button tabindex=0 aria-label="Start a post" class=share-box-feed-entry__trigger>
  Start a post</div></main>
<div role=dialog aria-label="Create a post" class="artdeco-modal share-box hidden">
  <button type=button aria-label="Post to Anyone">Anyone</button>
  <div class=ql-container><div class=ql-editor role=textbox contenteditable=true
    aria-label="Text editor for creating content" data-placeholder="Share your thoughts…"></div></div>
  <div class="media-preview hidden"><div data-test-media-preview>video</div></div>
  <button type=button aria-label="Add media">Add media</button>
  <button type=button class="share-actions__primary-action artdeco-button" disabled>Post</button>
</div>
<div role=dialog aria-label="Editor" class="media-editor hidden">
  <input type=file accept="image/*" class=hidden id=image-picker>
  <button type=button class=upload-button>Upload from computer</button>
  <input type=file id=media-editor-file-selector__file-input accept="video/*" class=hidden>
  <div role=progressbar aria-valuenow=0 class=hidden></div><p class=media-status></p>
  <button type=button class=next-button disabled>Next</button>
</div>
<div class=artdeco-toasts></div>
<script>
(() => {
  const S = __SETTINGS__, BASE = "__BASE__", $ = s => document.querySelector(s);
  const modal = $(".share-box"), mediaEditor = $(".media-editor");
  const post = $(".share-actions__primary-action"), input = $("#media-editor-file-selector__file-input");
  const next = $(".next-button"), bar = $(".media-editor [role=progressbar]");
  let uploadId = null, ready = false, blocked = false;
  const editor = fakeEditor($(".ql-editor"), "", render);
  function render() { post.disabled = !(ready && editor.get().trim() !== "" && !blocked); }
  function toast(text, link) {
    const t = document.createElement("div");
    t.className = "artdeco-toast-item artdeco-toast-item--visible"; t.setAttribute("role", "alert");
    t.innerHTML = "<p></p>" + (link ? '<a href="' + link + '">View post</a>' : "");
    t.firstChild.textContent = text; $(".artdeco-toasts").appendChild(t);
  }
  $('[aria-label="Start a post"]').onclick = () => {
    modal.classList.remove("hidden");
    if (S.overlay) {
      blocked = true;
      const d = document.createElement("div"); d.className = "ov";
      d.innerHTML = '<div role=dialog aria-label="Try Premium for free"><button type=button ' +
        'aria-label="Dismiss">x</button></div>';
      d.querySelector("button").onclick = () => { d.remove(); blocked = false; render(); };
      document.body.appendChild(d);
    }
  };
  $('[aria-label="Add media"]').onclick = () => mediaEditor.classList.remove("hidden");
  $(".upload-button").onclick = () => input.click();
  input.addEventListener("change", () => {
    const file = input.files[0]; if (!file) return;
    bar.classList.remove("hidden"); $(".media-status").textContent = "Uploading";
    fakeUpload(BASE + "/upload", file, {
      progress: p => bar.setAttribute("aria-valuenow", p),
      failed: msg => {
        bar.classList.add("hidden"); input.value = "";
        $(".media-status").textContent = msg || "Upload failed. Please try again.";
        if (msg) toast(msg);
      },
      done: body => { uploadId = body.upload_id; $(".media-status").textContent = "Processing";
        setTimeout(() => { $(".media-status").textContent = "Ready"; next.disabled = false; },
          S.processing_ms); },
    });
  });
  next.onclick = () => {
    mediaEditor.classList.add("hidden"); $(".media-preview").classList.remove("hidden");
    ready = true; render();
  };
  post.addEventListener("click", async () => {
    if (post.disabled) return;
    post.disabled = true;
    try {
      const r = await fetch(BASE + "/share", {method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({upload_id: uploadId, text: editor.get()})});
      if (!r.ok) throw new Error(String(r.status));
      const body = await r.json();
      modal.classList.add("hidden"); toast("Post successful.", "/feed/update/" + body.urn + "/");
    } catch (e) { toast("Something went wrong. Please try again."); render(); }
  });
})();
</script>"""
