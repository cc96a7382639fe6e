"""TikTok Studio's web uploader, as the TikTok fake serves it under ``/tiktok``.

Pages: ``/login`` (the login wall: a region ``select`` whose class matches
``tiktok-*-SelectFormContainer``), ``/tiktokstudio/upload`` and
``/tiktokstudio/content`` (the post table). The upload page has the 2024+
layout (no iframe): a decoy ``input[type=file][accept="image/*"]`` (cover
picker) before the real hidden ``input[type=file][accept="video/*"]`` with a
"Select video" button; on a file, "Uploading N%" then "Processing" for
``processing_ms``, then ``span[data-icon=CheckCircleFill]``; a Draft.js-like
caption editor pre-filled with the file name whose model changes only from
``beforeinput`` events (setting its text renders but is not what is posted);
``button[data-e2e=post_video_button]`` disabled (``disabled``,
``aria-disabled``, ``data-disabled``) until the upload is done, the caption
is set and no overlay is open. After Post the page goes to
``/tiktokstudio/content``; the post is a video in the fake's state (API
``video/list`` and the snapshot see it).

Modes (``POST /tiktok/_sandbox/web`` or ``TikTokStudio.configure``):
``login_wall`` (every session signed out), ``captcha``, ``too_many`` (the
upload is refused with "Too many uploading attempts"), ``overlay`` (a
content-checks modal in ``[data-floating-ui-portal]`` intercepting clicks once
the upload is done, plus the cookie banner), ``processing_ms`` (slow
processing), ``drop_upload`` (the connection drops mid-upload: "Select file"
again), ``lose_confirmation`` (the post is made but its answer is lost: the
page shows an error toast and enables Post again, the trap of a second post).
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
    from pellacia_sandbox.fakes.tiktok import TikTokFake


class TikTokStudio(UploadPages):
    """The upload and content pages, bound to the TikTok fake's state."""

    label = "TikTok"

    def __init__(self, fake: TikTokFake) -> None:
        super().__init__(fake)
        self.fake: TikTokFake = fake
        self.posts: list[str] = []  # video ids posted through the page

    def reset(self) -> None:
        super().reset()
        self.posts.clear()

    def setup(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/login", self._login_page)
        r.add_post("/login", self._login)
        r.add_get("/tiktokstudio/upload", self._upload_page)
        r.add_get("/tiktokstudio/content", self._content_page)
        r.add_post("/tiktokstudio/api/upload", self._upload)
        r.add_post("/tiktokstudio/api/post", self._post)
        r.add_post("/_sandbox/web", self._configure_http)

    # ------------------------------------------------------------ pages

    def _wall(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(self.fake.url(f"/login?redirect_url={request.path_qs}"))

    async def _login_page(self, request: web.Request) -> web.Response:
        return html(LOGIN_HTML, "Log in | TikTok")

    async def _login(self, request: web.Request) -> web.Response:
        form = await request.post()
        account = str(form.get("username") or self.fake.config["default_account"])
        response = web.HTTPFound(self.fake.url("/tiktokstudio/upload"))
        response.set_cookie(SESSION_COOKIE, self.sessions.issue(account), httponly=True)
        raise response

    async def _upload_page(self, request: web.Request) -> web.Response:
        if self._account(request) is None:
            return self._wall(request)
        page = (CAPTCHA_HTML if self.config["captcha"] else "") + PAGE_JS + UPLOAD_HTML
        settings = {k: self.config[k] for k in ("overlay", "processing_ms")}
        page = page.replace("__SETTINGS__", json.dumps(settings))
        page = page.replace("__BASE__", self.fake.url("/tiktokstudio"))
        return html(page, "TikTok Studio")

    async def _content_page(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self._wall(request)
        mine = sorted(
            (v for v in self.fake.videos if v.account == account), key=lambda v: -v.create_ms
        )
        rows = "".join(
            f'<div data-tt="components_PostInfoCell_Container" class="c-{secrets.token_hex(3)}">'
            f'<a href="/@{htmlmod.escape(v.account)}/video/{v.id}">'
            f'<span class="caption">{htmlmod.escape(v.title)}</span></a></div>'
            for v in mine
        )
        body = (
            '<h1>Posts</h1><div data-tt="components_PostTable_Container">'
            f"{rows or '<p>No posts yet</p>'}</div>"
        )
        return html(body, "TikTok Studio - Posts")

    # ------------------------------------------------------------- api

    async def _upload(self, request: web.Request) -> web.Response:
        if self._account(request) is None:
            return web.json_response({"error": "login required"}, status=401)
        if self.config["too_many"]:
            return web.json_response(
                {"error": "Too many uploading attempts. Try again later."}, status=429
            )
        received = await receive_upload(request, drop=bool(self.config["drop_upload"]))
        upload_id = secrets.token_hex(8)
        self.uploads[upload_id] = received
        return web.json_response({"upload_id": upload_id})

    async def _post(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return web.json_response({"error": "login required"}, status=401)
        body = await request.json()
        upload = self.uploads.get(str(body.get("upload_id")))  # a second click posts again
        caption = body.get("caption")
        if upload is None or not isinstance(caption, str) or not caption.strip():
            return web.json_response({"error": "upload or caption missing"}, status=400)
        video_id = self._publish(account, caption, upload)
        if self.config["lose_confirmation"]:
            # posted; the answer is lost on the way (a gateway timeout). Not a dropped
            # connection: Chromium would silently re-send the POST on a reused socket
            return web.Response(status=504, text="upstream request timeout")
        return web.json_response({"video_id": video_id})

    def _publish(self, account: str, caption: str, upload: dict[str, Any]) -> str:
        """The post, in the same state the API fake reads (a completed direct publish)."""
        from pellacia_sandbox.fakes.tiktok import _Publish

        fake, n = self.fake, next(self.fake._seq)
        now = fake.clock.time()
        publish = _Publish(
            publish_id=f"v_web_file~v2-1.{7300000000000000000 + n}",
            account=account,
            mode="direct",
            title=caption,
            privacy_level="PUBLIC_TO_EVERYONE",
            post_info={"title": caption, "source": "web"},
            video_size=upload["size"],
            chunk_size=upload["size"],
            total_chunk_count=1,
            upload_id=f"web-{n}",
            upload_token="",
            upload_expires_at=now,
            created_at=now,
            committed=upload["size"],
            bytes_received=upload["size"],
            chunks=1,
            sha256=upload["sha256"],
            completed_at=now,
            video_id=str(7500000000000000000 + n),
        )
        fake.publishes[publish.publish_id] = publish
        fake._finish(publish)
        self.posts.append(str(publish.video_id))
        return str(publish.video_id)


LOGIN_HTML = """
<h1>Log in to TikTok</h1>
<form method=post action="">
  <select class="tiktok-1x2y3z-SelectFormContainer" name=region><option>+44</option></select>
  <label>Username <input name=username></label>
  <button type=submit>Log in</button>
</form>"""

CAPTCHA_HTML = """
<div id=captcha-verify-container role=dialog aria-label="Verify"
  style="position:fixed;inset:0;z-index:1000;background:#fff">
  <p>Drag the slider to fit the puzzle</p><img id=captcha-verify-image alt="" src="">
</div>"""

UPLOAD_HTML = """
<style>
  .hidden { display: none }
  .k9-overlay { position: fixed; inset: 0; z-index: 500; background: #0006 }
  .k9-banner { position: fixed; left: 0; right: 0; bottom: 0; height: 140px; z-index: 400;
    background: #eee }
  .footer { margin-top: 40px }
</style>
<div class=cover-picker-a81><input type=file accept="image/*" class=hidden></div>
<div id=root>
  <div class="upload-container css-1v2x3">
    <div class="upload-text-container css-7pq">
      <p>Select video to upload</p>
      <button type=button class="css-btn-4d" id=select>Select video</button>
      <input type=file accept="video/*" class=hidden id=video-input>
    </div>
    <div class="upload-error hidden" role=alert>
      <p>Couldn't upload. Check your network connection and try again.</p>
      <button type=button aria-label="Select file">Retry</button>
    </div>
  </div>
  <div class="info-body hidden">
    <div class=info-main>
      <span class=file-name></span> <span class=info-progress data-pct=0></span>
      <span class="resolution-label-text hidden">1080p</span>
      <span data-icon=CheckCircleFill class=hidden aria-label="Uploaded">&#10003; Uploaded</span>
    </div>
    <div class=caption-editor-x3>
      <div class="DraftEditor-root">
        <div class="public-DraftEditor-content notranslate" contenteditable=true role=textbox
          aria-label="Caption" spellcheck=false><div data-contents=true></div></div>
      </div>
    </div>
    <div data-e2e=video_visibility_container>Who can watch this video
      <button role=combobox type=button>Everyone</button></div>
    <div class=footer>
      <button type=button data-e2e=post_video_button class="TUXButton TUXButton--primary"
        disabled aria-disabled=true data-disabled=true>Post</button>
      <button type=button class=TUXButton>Discard</button>
    </div>
  </div>
  <div class=toasts role=status></div>
</div>
<script>
(() => {
  const S = __SETTINGS__, BASE = "__BASE__";
  const $ = s => document.querySelector(s);
  const input = $("#video-input"), editor = $(".public-DraftEditor-content");
  const contents = editor.firstElementChild, post = $('[data-e2e="post_video_button"]');
  let uploadId = null, done = false, overlayOpen = false;

  function toast(text) {
    const t = document.createElement("div");
    t.className = "TUXToast"; t.textContent = text; $(".toasts").appendChild(t);
  }
  function render() {
    const ready = done && caption.get().trim() !== "" && !overlayOpen;
    post.disabled = !ready;
    post.setAttribute("aria-disabled", String(!ready));
    post.setAttribute("data-disabled", String(!ready));
  }
  function overlays() {
    overlayOpen = true;
    const portal = document.createElement("div");
    portal.setAttribute("data-floating-ui-portal", "");
    portal.innerHTML = '<div class="TUXModal-overlay k9-overlay"><div role=dialog ' +
      'aria-modal=true aria-label="Turn on automatic content checks" class="TUXModal ' +
      'common-modal"><p>Turn on automatic content checks?</p><div class=common-modal-footer>' +
      '<button type=button data-type=neutral>Cancel</button><button type=button ' +
      'data-type=primary>Turn on</button></div></div></div>';
    portal.querySelectorAll("button").forEach(b => b.onclick = () => {
      portal.remove(); overlayOpen = false; render();
    });
    document.body.appendChild(portal);
    const banner = document.createElement("tiktok-cookie-banner");
    banner.className = "k9-banner";
    banner.innerHTML = '<p>Cookies on TikTok</p><div class=button-wrapper>' +
      '<button type=button>Decline optional cookies</button>' +
      '<button type=button>Allow all</button></div>';
    banner.querySelectorAll("button").forEach(b => b.onclick = () => banner.remove());
    document.body.appendChild(banner);
    render();
  }
  const caption = fakeEditor(contents, "", render);  // takes real input events only
  $("#select").onclick = () => input.click();
  $('[aria-label="Select file"]').onclick = () => input.click();
  input.addEventListener("change", () => {
    const file = input.files[0];
    if (!file) return;
    $(".upload-error").classList.add("hidden");
    $(".info-body").classList.remove("hidden");
    $(".file-name").textContent = file.name;
    done = false; caption.set(file.name.replace(/\\.[^.]+$/, ""));
    const progress = $(".info-progress");
    fakeUpload(BASE + "/api/upload", file, {
      progress: pct => { progress.dataset.pct = pct; progress.textContent = "Uploading " + pct + "%"; },
      failed: msg => {
        if (msg) { toast(msg); return; }
        $(".info-body").classList.add("hidden");
        $(".upload-error").classList.remove("hidden");
        input.value = "";
      },
      done: body => {
        uploadId = body.upload_id;
        progress.textContent = "Processing…";
        setTimeout(() => {
          progress.textContent = "Uploaded";
          $(".resolution-label-text").classList.remove("hidden");
          $('[data-icon="CheckCircleFill"]').classList.remove("hidden");
          done = true;
          if (S.overlay) overlays(); else render();
        }, S.processing_ms);
      },
    });
  });
  post.addEventListener("click", async () => {
    if (post.disabled) return;
    post.disabled = true;
    try {
      const r = await fetch(BASE + "/api/post", {method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({upload_id: uploadId, caption: caption.get()})});
      if (!r.ok) throw new Error(String(r.status));
      location.href = BASE + "/content";
    } catch (e) {
      toast("Something went wrong. Please try again."); render();
    }
  });
})();
</script>"""
