"""The fake remote of the test platform: a small aiohttp app with fault knobs.

Endpoints (under ``/testplatform``):

  POST /oauth/token                      refresh: {"refresh_token"} -> new access token
  POST /uploads                          {"size", "idempotency_key"} -> {"upload_id"}
  GET  /uploads/{id}                     -> {"received", "size"}
  PUT  /uploads/{id}?offset=N            one chunk (must start at the received offset)
  POST /uploads/{id}/publish             {"title", "caption", "idempotency_key"} -> post
  GET  /posts?idempotency_key=K          -> {"posts": [...]} (the reconcile lookup)
  GET  /posts/{id}/metrics               -> {"views", "likes", ...}
  POST /web/upload                       the web upload page's form (browser layer; a
                                         signed-in browser session, so no bearer token)

Publishing is deliberately *not* idempotent: a second publish of the same
upload creates a second post, so a test can see a duplicate if the engine ever
repeats a publish blindly.

Faults (``FakeTestPlatform.fail(kind, times=N, op=...)``, or ``POST
/_control/fail`` from another process): ``500``, ``429`` (with a reset),
``401``, ``400``, ``challenge``, ``unsupported``, ``reset`` (connection closed
without a response), ``lose-response`` (do the work, e.g. create the post, then
close the connection), ``hang`` (never answer), ``hang-after`` (do the work,
then never answer: the client dies or times out not knowing). ``op`` limits a fault to one
operation: ``token``, ``init``, ``status``, ``chunk``, ``publish``,
``reconcile``, ``metrics``, ``web`` (the web upload page; default: any).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN_PREFIX = "tp-token-"


@dataclass
class Fault:
    kind: str
    times: int
    op: str | None = None
    retry_after: float = 30.0
    after: int = 0  # let this many matching calls through first


@dataclass
class Upload:
    id: str
    size: int
    idempotency_key: str
    data: bytearray = field(default_factory=bytearray)


@dataclass
class Post:
    id: str
    upload_id: str
    idempotency_key: str
    title: str
    caption: str
    size: int

    def to_json(self, base: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": f"{base}/watch/{self.id}",
            "title": self.title,
            "caption": self.caption,
            "idempotency_key": self.idempotency_key,
            "size": self.size,
        }


class FakeTestPlatform:
    """State and knobs of the fake; ``start()`` serves it on 127.0.0.1:0."""

    def __init__(self) -> None:
        self.uploads: dict[str, Upload] = {}
        self.posts: list[Post] = []
        self.faults: list[Fault] = []
        self.calls: dict[str, int] = {}
        self.bytes_received = 0
        self.chunk_delay = 0.0
        #: set whenever a chunk is stored (tests wait on it instead of sleeping)
        self.chunk_event = asyncio.Event()
        #: set on every call (tests wait on it, clearing it first)
        self.call_event = asyncio.Event()
        self._unhang = asyncio.Event()
        self._hang_after = False
        self.valid_tokens: set[str] = {TOKEN_PREFIX + "static"}
        self._token_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # ----------------------------------------------------------------- knobs

    def fail(
        self,
        kind: str,
        *,
        times: int = 1,
        op: str | None = None,
        retry_after: float = 30.0,
        after: int = 0,
    ) -> None:
        """Make the next ``times`` calls (of ``op``, or any) fail with ``kind``,
        after letting ``after`` of them through."""
        self.faults.append(Fault(kind, times, op, retry_after, after))

    def clear_faults(self) -> None:
        self.faults.clear()

    @property
    def posts_created(self) -> int:
        return len(self.posts)

    def posts_for(self, idempotency_key: str) -> list[Post]:
        return [p for p in self.posts if p.idempotency_key == idempotency_key]

    def stats(self) -> dict[str, Any]:
        return {
            "bytes_received": self.bytes_received,
            "posts_created": self.posts_created,
            "calls": dict(self.calls),
            "uploads": len(self.uploads),
        }

    @property
    def url(self) -> str:
        """Root URL (what ``--sandbox``/``sandbox_url`` points at)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The platform's API base (what ``settings.plugins.testplatform.base_url`` takes)."""
        return f"{self.url}/testplatform"

    # --------------------------------------------------------------- serving

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        r = app.router
        r.add_post("/testplatform/oauth/token", self._token)
        r.add_post("/testplatform/uploads", self._init)
        r.add_get("/testplatform/uploads/{id}", self._status)
        r.add_put("/testplatform/uploads/{id}", self._chunk)
        r.add_post("/testplatform/uploads/{id}/publish", self._publish)
        r.add_get("/testplatform/posts", self._reconcile)
        r.add_post("/testplatform/web/upload", self._web_upload)
        r.add_get("/testplatform/posts/{id}/metrics", self._metrics)
        r.add_post("/_control/fail", self._control_fail)
        r.add_post("/_control/reset", self._control_reset)
        r.add_get("/_control/stats", self._control_stats)
        return app

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app(), handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self.url

    async def stop(self) -> None:
        self._unhang.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def reset(self) -> None:
        """Forget everything (between tests)."""
        self.uploads.clear()
        self.posts.clear()
        self.faults.clear()
        self.calls.clear()
        self.bytes_received = 0
        self.chunk_delay = 0.0
        self.chunk_event = asyncio.Event()
        self._unhang.set()
        self._unhang = asyncio.Event()

    # -------------------------------------------------------------- plumbing

    def _take_fault(self, op: str) -> Fault | None:
        self.calls[op] = self.calls.get(op, 0) + 1
        self.call_event.set()
        for fault in self.faults:
            if fault.op in (None, op) and fault.times > 0:
                if fault.after > 0:
                    fault.after -= 1
                    return None
                fault.times -= 1
                if fault.times == 0:
                    self.faults.remove(fault)
                return fault
        return None

    async def _lose(self, request: web.Request) -> web.Response:
        """The work is done; the answer never arrives (dropped, or after a hang)."""
        if self._hang_after:
            self._hang_after = False
            await self._unhang.wait()
        return self._drop(request)

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        """Close the connection without an answer (the client sees a disconnect)."""
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise asyncio.CancelledError

    async def _fault_response(self, fault: Fault, request: web.Request) -> web.Response:
        kind = fault.kind
        if kind == "500":
            return web.json_response({"error": "internal"}, status=500)
        if kind == "503":
            return web.json_response({"error": "unavailable"}, status=503)
        if kind == "429":
            reset = int(asyncio.get_running_loop().time())  # informational only
            return web.json_response(
                {"error": "rate_limited"},
                status=429,
                headers={"Retry-After": str(int(fault.retry_after)), "X-Loop-Time": str(reset)},
            )
        if kind == "401":
            return web.json_response({"error": "invalid_token"}, status=401)
        if kind == "400":
            return web.json_response({"error": "invalid_video", "message": "bad video"}, status=400)
        if kind == "challenge":
            return web.json_response({"error": "challenge", "message": "verify"}, status=403)
        if kind == "unsupported":
            return web.json_response({"error": "not_implemented"}, status=501)
        if kind == "reset":
            return self._drop(request)
        if kind == "hang":
            await self._unhang.wait()  # until reset()/stop()
            return self._drop(request)
        raise ValueError(f"unknown fault kind {kind!r}")

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        return header.removeprefix("Bearer ") in self.valid_tokens

    async def _guard(
        self, request: web.Request, op: str, *, auth: bool = True
    ) -> tuple[web.Response | None, bool]:
        """(early response, lose-response?) for one call."""
        fault = self._take_fault(op)
        if fault is not None and fault.kind in ("lose-response", "hang-after"):
            self._hang_after = fault.kind == "hang-after"
            return None, True
        if fault is not None:
            return await self._fault_response(fault, request), False
        if auth and op != "token" and not self._authorized(request):
            return web.json_response({"error": "invalid_token"}, status=401), False
        return None, False

    # ------------------------------------------------------------- handlers

    async def _token(self, request: web.Request) -> web.Response:
        early, lose = await self._guard(request, "token")
        if early is not None:
            return early
        body = await request.json()
        if not body.get("refresh_token"):
            return web.json_response({"error": "invalid_grant"}, status=400)
        token = f"{TOKEN_PREFIX}{next(self._token_ids)}"
        self.valid_tokens.add(token)
        if lose:
            return await self._lose(request)
        return web.json_response(
            {"access_token": token, "refresh_token": body["refresh_token"], "expires_in": 3600}
        )

    async def _init(self, request: web.Request) -> web.Response:
        early, lose = await self._guard(request, "init")
        if early is not None:
            return early
        body = await request.json()
        size = int(body["size"])
        if size <= 0:
            return web.json_response({"error": "invalid_size"}, status=400)
        upload = Upload(uuid.uuid4().hex, size, str(body.get("idempotency_key", "")))
        self.uploads[upload.id] = upload
        if lose:
            return await self._lose(request)
        return web.json_response({"upload_id": upload.id, "size": size})

    async def _status(self, request: web.Request) -> web.Response:
        early, _ = await self._guard(request, "status")
        if early is not None:
            return early
        upload = self.uploads.get(request.match_info["id"])
        if upload is None:
            return web.json_response({"error": "not_found"}, status=404)
        return web.json_response({"received": len(upload.data), "size": upload.size})

    async def _chunk(self, request: web.Request) -> web.Response:
        early, lose = await self._guard(request, "chunk")
        if early is not None:
            return early
        upload = self.uploads.get(request.match_info["id"])
        if upload is None:
            return web.json_response({"error": "not_found"}, status=404)
        offset = int(request.query.get("offset", "-1"))
        if offset != len(upload.data):
            return web.json_response(
                {"error": "offset_mismatch", "received": len(upload.data)}, status=409
            )
        data = await request.read()
        if self.chunk_delay:
            await asyncio.sleep(self.chunk_delay)
        if offset + len(data) > upload.size:
            return web.json_response({"error": "too_much_data"}, status=400)
        upload.data.extend(data)
        self.bytes_received += len(data)
        self.chunk_event.set()
        if lose:
            return await self._lose(request)
        return web.json_response({"received": len(upload.data), "size": upload.size})

    async def _publish(self, request: web.Request) -> web.Response:
        early, lose = await self._guard(request, "publish")
        if early is not None:
            return early
        upload = self.uploads.get(request.match_info["id"])
        if upload is None:
            return web.json_response({"error": "not_found"}, status=404)
        if len(upload.data) != upload.size:
            return web.json_response({"error": "upload_incomplete"}, status=400)
        body = await request.json()
        post = Post(
            id=f"p{len(self.posts) + 1}",
            upload_id=upload.id,
            idempotency_key=str(body.get("idempotency_key", "")),
            title=str(body.get("title", "")),
            caption=str(body.get("caption", "")),
            size=upload.size,
        )
        self.posts.append(post)
        if lose:
            return await self._lose(request)
        return web.json_response(post.to_json(self.base_url))

    async def _web_upload(self, request: web.Request) -> web.Response:
        """The web upload page's form: the whole video and its text in one go."""
        early, lose = await self._guard(request, "web", auth=False)
        if early is not None:
            return early
        form = await request.post()
        video = form.get("video")
        data = video.file.read() if isinstance(video, web.FileField) else b""
        if not data:
            return web.json_response({"error": "no_video"}, status=400)
        self.bytes_received += len(data)
        post = Post(
            id=f"p{len(self.posts) + 1}",
            upload_id="web",
            idempotency_key=str(form.get("idempotency_key", "")),
            title=str(form.get("title", "")),
            caption=str(form.get("caption", "")),
            size=len(data),
        )
        self.posts.append(post)
        if lose:
            return await self._lose(request)
        return web.json_response(post.to_json(self.base_url))

    async def _reconcile(self, request: web.Request) -> web.Response:
        early, _ = await self._guard(request, "reconcile")
        if early is not None:
            return early
        key = request.query.get("idempotency_key", "")
        found = [p.to_json(self.base_url) for p in self.posts_for(key)]
        return web.json_response({"posts": found})

    async def _metrics(self, request: web.Request) -> web.Response:
        early, _ = await self._guard(request, "metrics")
        if early is not None:
            return early
        post_id = request.match_info["id"]
        if not any(p.id == post_id for p in self.posts):
            return web.json_response({"error": "not_found"}, status=404)
        n = int(post_id.lstrip("p") or 0)
        return web.json_response({"views": 100 * n, "likes": 10 * n, "comments": n})

    async def _control_fail(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.fail(
            str(body["kind"]),
            times=int(body.get("times", 1)),
            op=body.get("op"),
            retry_after=float(body.get("retry_after", 30.0)),
            after=int(body.get("after", 0)),
        )
        return web.json_response({"ok": True})

    async def _control_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def _control_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())
