"""YouTube Studio's upload dialog, as the YouTube fake serves it under ``/youtube``.

Pages: ``/upload`` (302 to ``/channel/<id>/videos/upload``), the channel's
``/channel/<id>/videos`` (content list), ``/ServiceLogin`` (the login wall:
``input#identifierId``). The upload dialog (browser-flows.md §8):
``ytcp-uploads-dialog`` with "Select files" and a hidden ``input[name=Filedata]``
(the thumbnail's ``#file-loader`` input is the decoy); on a file:
``ytcp-video-upload-progress`` "Uploading N%" → "Upload complete ... Processing"
→ "Checks complete" over ``processing_ms``; ``#title-textarea #textbox`` (pre-filled
with the file name) and ``#description-textarea #textbox`` editors that take only
real input events; the required made-for-kids radios; "Show more" → Tags input;
``#next-button`` three times to Visibility (``#privacy-radios``); ``#done-button``
``aria-disabled`` until the kids question is answered and checks are complete;
``span.video-url-fadeable a`` holds ``https://youtu.be/<id>`` once uploaded; after
Publish a "Video published" dialog with the link and Close. The video then is in
the fake's ``videos`` (API ``videos.list`` and reconcile see it).

Modes (``POST /youtube/_sandbox/web``): ``login_wall``, ``captcha`` ("Verify it's
you"), ``too_many`` ("Daily upload limit reached"), ``overlay`` (a "Welcome to
YouTube Studio" dialog blocking the page until Continue), ``processing_ms``,
``drop_upload``, ``lose_confirmation`` (published, but the answer is lost: an
error toast, Publish enabled again).
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
    from pellacia_sandbox.fakes.youtube import YouTubeFake


class YouTubeStudio(UploadPages):
    """The upload dialog and content list, bound to the YouTube fake's videos."""

    label = "YouTube"

    def __init__(self, fake: YouTubeFake) -> None:
        super().__init__(fake)
        self.fake: YouTubeFake = fake

    def setup(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/ServiceLogin", self._login_page)
        r.add_post("/ServiceLogin", self._login)
        r.add_get("/upload", self._to_channel)
        r.add_get("/channel/{cid}/videos/upload", self._upload_page)
        r.add_get("/channel/{cid}/videos", self._content_page)
        r.add_post("/studio/api/upload", self._upload)
        r.add_post("/studio/api/publish", self._publish)
        r.add_post("/_sandbox/web", self._configure_http)

    def _wall(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(self.fake.url(f"/ServiceLogin?continue={request.path_qs}"))

    async def _login_page(self, request: web.Request) -> web.Response:
        return html(LOGIN_HTML, "Sign in - Google Accounts")

    async def _login(self, request: web.Request) -> web.Response:
        form = await request.post()
        response = web.HTTPFound(self.fake.url("/upload"))
        account = str(form.get("identifier") or "sandbox-account")
        response.set_cookie(SESSION_COOKIE, self.sessions.issue(account), httponly=True)
        raise response

    async def _to_channel(self, request: web.Request) -> web.Response:
        from pellacia_sandbox.fakes.youtube import CHANNEL_ID

        if self._account(request) is None:
            return self._wall(request)
        raise web.HTTPFound(self.fake.url(f"/channel/{CHANNEL_ID}/videos/upload"))

    async def _upload_page(self, request: web.Request) -> web.Response:
        if self._account(request) is None:
            return self._wall(request)
        page = (CAPTCHA_HTML if self.config["captcha"] else "") + PAGE_JS + UPLOAD_HTML
        settings = {k: self.config[k] for k in ("overlay", "processing_ms")}
        page = page.replace("__SETTINGS__", json.dumps(settings))
        page = page.replace("__BASE__", self.fake.url("/studio/api"))
        return html(page, "Channel content - YouTube Studio")

    async def _content_page(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self._wall(request)
        rows = "".join(
            f'<ytcp-video-row data-video-id="{v["id"]}" class="r-{secrets.token_hex(2)}">'
            f'<a id=video-title href="/video/{v["id"]}/edit">'
            f"{htmlmod.escape(v['snippet'].get('title', ''))}</a></ytcp-video-row>"
            for v in reversed(self.fake.videos.values())
            if v.get("_account") == account
        )
        return html(f"<h1>Channel content</h1><div id=video-list>{rows}</div>", "YouTube Studio")

    async def _upload(self, request: web.Request) -> web.Response:
        if self._account(request) is None:
            return web.json_response({"error": "login required"}, status=401)
        if self.config["too_many"]:
            return web.json_response({"error": "Daily upload limit reached"}, status=429)
        received = await receive_upload(request, drop=bool(self.config["drop_upload"]))
        video_id = secrets.token_urlsafe(8).replace("-", "x").replace("_", "y")[:11]
        self.uploads[video_id] = received
        return web.json_response({"video_id": video_id})

    async def _publish(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return web.json_response({"error": "login required"}, status=401)
        body = await request.json()
        video_id = str(body.get("video_id"))
        upload = self.uploads.get(video_id)
        if upload is None or not str(body.get("title") or "").strip():
            return web.json_response({"error": "upload or title missing"}, status=400)
        self._store(account, video_id, body, upload)
        if self.config["lose_confirmation"]:
            return web.Response(status=504, text="upstream request timeout")
        return web.json_response({"video_id": video_id})

    def _store(self, account: str, video_id: str, body: dict[str, Any], upload: Any) -> None:
        """The video, shaped as ``videos.insert`` leaves it (same dict the API reads)."""
        from pellacia_sandbox.fakes.youtube import CHANNEL_ID, _rfc3339

        fake = self.fake
        tags = [t for t in body.get("tags") or [] if isinstance(t, str)]
        fake.videos[video_id] = {
            "kind": "youtube#video",
            "etag": secrets.token_hex(8),
            "id": video_id,
            "snippet": {
                "title": body["title"],
                "description": str(body.get("description") or ""),
                "tags": tags,
                "publishedAt": _rfc3339(fake._now()),
                "channelId": CHANNEL_ID,
            },
            "status": {
                "privacyStatus": str(body.get("privacy") or "private").lower(),
                "selfDeclaredMadeForKids": bool(body.get("made_for_kids")),
                "uploadStatus": "processed",
            },
            "processingDetails": {"processingStatus": "succeeded"},
            "statistics": {"viewCount": "0", "likeCount": "0", "favoriteCount": "0"}
            | {"commentCount": "0"},
            "_size": upload["size"],
            "_account": account,
            "_sha256": upload["sha256"],
            "_via": "web",
        }
        fake.polls[video_id] = 99


LOGIN_HTML = """
<h1>Sign in</h1><p>to continue to YouTube Studio</p>
<form method=post action=""><input type=email id=identifierId name=identifier
  aria-label="Email or phone"><button type=submit>Next</button></form>"""

CAPTCHA_HTML = """
<div role=dialog aria-label="Verify it's you" id=verify
  style="position:fixed;inset:0;z-index:1000;background:#fff">
  <h1>Verify it's you</h1><p>To help keep your account safe, Google wants to make sure
  it's really you trying to sign in</p></div>"""

UPLOAD_HTML = """
<style>.hidden{display:none} .ov{position:fixed;inset:0;z-index:500;background:#0006}</style>
<ytcp-uploads-dialog>
 <div class=step-select>
  <h1>Upload videos</h1>
  <button type=button id=select-files-button>Select files</button>
  <input type=file name=Filedata accept="video/*" class=hidden>
 </div>
 <div class="step-details hidden">
  <ytcp-video-upload-progress><span class="progress-label ytcp-video-upload-progress"></span>
  </ytcp-video-upload-progress>
  <span class=video-url-fadeable><a target=_blank href="https://youtu.be">https://youtu.be</a></span>
  <div class=page-details>
   <div id=title-textarea><label>Title (required)</label>
    <div id=textbox contenteditable=true role=textbox aria-label="Add a title that describes your video"></div></div>
   <div id=description-textarea><label>Description</label>
    <div id=textbox contenteditable=true role=textbox aria-label="Tell viewers about your video"></div></div>
   <div id=thumbnail><input type=file id=file-loader accept="image/*" class=hidden></div>
   <div id=audience role=radiogroup aria-label="Audience">
    <tp-yt-paper-radio-button role=radio aria-checked=false name=VIDEO_MADE_FOR_KIDS_MFK
      tabindex=0>Yes, it's made for kids</tp-yt-paper-radio-button>
    <tp-yt-paper-radio-button role=radio aria-checked=false name=VIDEO_MADE_FOR_KIDS_NOT_MFK
      tabindex=0>No, it's not made for kids</tp-yt-paper-radio-button>
   </div>
   <button type=button id=toggle-button>Show more</button>
   <ytcp-video-metadata-editor-advanced class=hidden>
    <input aria-label="Tags" id=tags-input placeholder="Add tag">
   </ytcp-video-metadata-editor-advanced>
  </div>
  <div class="page-visibility hidden">
   <div id=privacy-radios role=radiogroup aria-label="Save or publish">
    <tp-yt-paper-radio-button role=radio aria-checked=false name=PRIVATE tabindex=0>Private</tp-yt-paper-radio-button>
    <tp-yt-paper-radio-button role=radio aria-checked=false name=UNLISTED tabindex=0>Unlisted</tp-yt-paper-radio-button>
    <tp-yt-paper-radio-button role=radio aria-checked=false name=PUBLIC tabindex=0>Public</tp-yt-paper-radio-button>
   </div>
  </div>
  <div id=error-message></div>
  <button type=button id=next-button>Next</button>
  <button type=button id=done-button class=hidden aria-disabled=true>Publish</button>
 </div>
</ytcp-uploads-dialog>
<div class=toasts role=status></div>
<script>
(() => {
  const S = __SETTINGS__, BASE = "__BASE__", $ = s => document.querySelector(s);
  const input = $('input[name="Filedata"]'), done = $("#done-button"), next = $("#next-button");
  const label = $(".progress-label");
  let videoId = null, checked = false, kids = null, privacy = "PRIVATE", step = 0, overlay = false;
  const tags = [];
  const toast = t => { const d = document.createElement("div"); d.className = "toast";
    d.textContent = t; $(".toasts").appendChild(d); };
  const title = fakeEditor($("#title-textarea #textbox"), "", render);
  const description = fakeEditor($("#description-textarea #textbox"), "", render);
  function render() {
    const ok = checked && kids !== null && title.get().trim() !== "" && !overlay;
    done.setAttribute("aria-disabled", String(!ok));
    done.disabled = !ok;
  }
  function radios(group, set) {
    group.querySelectorAll("[role=radio]").forEach(r => r.onclick = () => {
      group.querySelectorAll("[role=radio]").forEach(o => o.setAttribute("aria-checked", "false"));
      r.setAttribute("aria-checked", "true"); set(r.getAttribute("name")); render();
    });
  }
  radios($("#audience"), n => kids = n === "VIDEO_MADE_FOR_KIDS_MFK");
  radios($("#privacy-radios"), n => privacy = n);
  $("#toggle-button").onclick = () => $("ytcp-video-metadata-editor-advanced").classList.remove("hidden");
  $("#tags-input").addEventListener("keydown", e => {
    if (e.key === "Enter" || e.key === ",") {
      e.preventDefault(); const v = e.target.value.trim(); if (v) tags.push(v); e.target.value = "";
    }
  });
  $("#select-files-button").onclick = () => input.click();
  next.onclick = () => {
    if (kids === null) { $("#error-message").textContent = "Required: made for kids"; return; }
    step += 1;
    if (step === 3) {
      $(".page-details").classList.add("hidden");
      $(".page-visibility").classList.remove("hidden");
      next.classList.add("hidden"); done.classList.remove("hidden");
    }
  };
  function welcome() {
    overlay = true; render();
    const d = document.createElement("div"); d.className = "ov";
    d.innerHTML = '<div role=dialog aria-label="Welcome to YouTube Studio"><p>Welcome!</p>' +
      '<button type=button id=dismiss-button>Continue</button></div>';
    d.querySelector("button").onclick = () => { d.remove(); overlay = false; render(); };
    document.body.appendChild(d);
  }
  input.addEventListener("change", () => {
    const file = input.files[0]; if (!file) return;
    $(".step-select").classList.add("hidden"); $(".step-details").classList.remove("hidden");
    title.set(file.name.replace(/\\.[^.]+$/, ""));
    $("ytcp-video-upload-progress").setAttribute("uploading", "");
    fakeUpload(BASE + "/upload", file, {
      progress: p => label.textContent = "Uploading " + p + "% ...",
      failed: msg => {
        if (msg) { toast(msg); label.textContent = msg; return; }
        label.textContent = "Upload failed: network error";
        $(".step-select").classList.remove("hidden"); $(".step-details").classList.add("hidden");
        input.value = "";
      },
      done: body => {
        videoId = body.video_id;
        $("ytcp-video-upload-progress").removeAttribute("uploading");
        label.textContent = "Upload complete ... Processing will begin shortly";
        const a = $(".video-url-fadeable a");
        setTimeout(() => { a.href = a.textContent = "https://youtu.be/" + videoId; }, 100);
        setTimeout(() => {
          label.textContent = "Checks complete. No issues found."; checked = true;
          if (S.overlay) welcome(); else render();
        }, S.processing_ms);
      },
    });
  });
  done.addEventListener("click", async () => {
    if (done.disabled) return;
    done.disabled = true;
    try {
      const r = await fetch(BASE + "/publish", {method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({video_id: videoId, title: title.get(), tags,
          description: description.get(), privacy, made_for_kids: kids})});
      if (!r.ok) throw new Error(String(r.status));
      const d = document.createElement("div");
      d.innerHTML = '<div role=dialog aria-label="Video published"><h1>Video published</h1>' +
        '<span class=video-url-fadeable><a href="https://youtu.be/' + videoId + '">https://youtu.be/' +
        videoId + '</a></span><ytcp-button id=close-button role=button>Close</ytcp-button></div>';
      document.body.appendChild(d);
    } catch (e) { toast("Something went wrong. Try again."); render(); }
  });
})();
</script>"""
