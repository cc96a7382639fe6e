"""What the Instagram and Facebook fakes share: Meta's Graph API around the content.

Both platforms speak the same Graph API (protocols.md §3 and §4), so this base
serves, under the fake's prefix, what ``graph.facebook.com``,
``www.facebook.com`` and ``rupload.facebook.com`` have in common:

    GET  /{ver}/dialog/oauth             Facebook Login; auto-approves: 302 redirect_uri?code=&state=
    GET|POST /{ver}/oauth/access_token   code (+ PKCE verifier) -> short-lived user token (1 h);
                                         grant_type=fb_exchange_token -> long-lived (60 days)
    GET  /{ver}/me, /{ver}/me/accounts   the user; the Pages with their Page tokens (no expiry)
                                         and ``instagram_business_account``
    POST /{ver}/  (and /)                batch: ``batch=[{"method","relative_url"}]``, <= 50
    GET|POST /{ver}/{node}[/{edge}]      the platform's nodes (subclasses)

Tokens: ``Authorization: Bearer|OAuth <token>`` or ``access_token``.
Errors are Graph error bodies (``{"error": {"message", "type", "code",
"error_subcode", "is_transient", "fbtrace_id"}}``); a dead token is code 190.
Every Graph answer carries ``X-App-Usage`` (percent of the hourly app budget)
and, for the account's objects, ``X-Business-Use-Case-Usage``; at 100 % the
calls fail with code 4 (app) until the hour slides on.

``expire-tokens`` (control API) kills the Page tokens and short-lived user
tokens in use, as a Page role change would; the long-lived user token the
client keeps to fetch a new Page token survives. A real password change kills
that one too: ``expire_all_user_tokens()`` models it.

The rupload host (``POST``/``GET`` of an upload URI with
``Authorization: OAuth``, ``offset``, ``file_size``) is ``rupload()`` here: it
accepts a body from any ``offset`` up to the bytes it holds (a resent overlap
is counted but not stored twice), so a client resumes from what it was told.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
import weakref
from abc import abstractmethod
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from pellacia_sandbox.fakes.base import FakePlatform, TokenError, TokenStore, authorize_redirect

SHORT_TTL_S = 3600.0
LONG_TTL_S = 60 * 86400.0
#: the hourly app budget of Graph calls (Meta: about 200 per user per hour)
APP_CALLS_PER_HOUR = 200
MAX_BATCH = 50
#: every container/video takes this long to process once its bytes are in (sandbox s)
PROCESSING_S = 0.2


class GraphError(Exception):
    """A Graph error answer (raised by node handlers, rendered by the routes)."""

    def __init__(
        self,
        status: int,
        message: str,
        code: int,
        *,
        subcode: int | None = None,
        transient: bool = False,
        user_msg: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.subcode = subcode
        self.transient = transient
        self.user_msg = user_msg
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": str(self),
            "type": "OAuthException",
            "code": self.code,
            "is_transient": self.transient,
            "fbtrace_id": secrets.token_urlsafe(8),
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.user_msg:
            error["error_user_title"] = "Sandbox"
            error["error_user_msg"] = self.user_msg
        return {"error": error}

    def response(self) -> web.Response:
        return web.json_response(self.body(), status=self.status, headers=self.headers)


def token_dead(subcode: int = 463) -> GraphError:
    return GraphError(
        400,
        "Error validating access token: Session has expired or the token is invalid.",
        190,
        subcode=subcode,
    )


@dataclass
class Person:
    """A Facebook user with one Page, linked to one Instagram professional account."""

    account: str
    user_id: str
    page_id: str
    page_name: str
    ig_id: str
    ig_username: str


@dataclass
class GraphToken:
    """An issued Graph token: a user's (short- or long-lived) or a Page's."""

    kind: str  # "user" | "page"
    person: Person
    expires_at: float | None  # sandbox unix time; None: no clock expiry (Page tokens)
    long_lived: bool = False


@dataclass
class Upload:
    """What a rupload URI has received for one container or video."""

    id: str
    account: str
    file_size: int | None = None
    offset: int = 0  # bytes held, in order
    bytes_received: int = 0  # every byte that arrived, resent ones too
    head: bytes = b""  # the first bytes (format sniffing)
    sha: Any = field(default_factory=hashlib.sha256)
    completed_at: float | None = None

    @property
    def complete(self) -> bool:
        return self.file_size is not None and self.offset >= self.file_size

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account": self.account,
            "file_size": self.file_size,
            "offset": self.offset,
            "bytes_received": self.bytes_received,
            "complete": self.complete,
        }


def looks_like_video(head: bytes) -> bool:
    """An ISO-BMFF file (MP4/MOV) has a box type at bytes 4..8: ftyp, moov, wide, free, mdat."""
    return head[4:8] in (b"ftyp", b"moov", b"wide", b"free", b"mdat", b"skip")


@dataclass
class _Identity:
    """Facebook Login's side of the Graph, shared by every Meta fake of one host."""

    codes: TokenStore
    graph_tokens: dict[str, GraphToken] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)


_IDENTITIES: weakref.WeakKeyDictionary[Any, _Identity] = weakref.WeakKeyDictionary()


def _shared_identity(host: Any, clock: Any) -> _Identity:
    if host not in _IDENTITIES:
        _IDENTITIES[host] = _Identity(TokenStore(clock, code_ttl=600.0, prefix="fb"))
    return _IDENTITIES[host]


class MetaGraphFake(FakePlatform):
    """The Graph API around a platform's content; subclasses add their nodes."""

    #: the BUC type of this platform's objects ("instagram", "pages")
    buc_type = "pages"

    def __init__(self, host: Any) -> None:
        super().__init__(host)
        # One Graph behind Instagram and Facebook: a Facebook Login made on one
        # fake is valid on the other (one `auth login meta` serves both).
        identity = _shared_identity(host, self.clock)
        self.codes = identity.codes
        self.graph_tokens: dict[str, GraphToken] = identity.graph_tokens
        self.people: dict[str, Person] = identity.people
        self.calls: deque[float] = deque()
        self._ids = itertools.count(1)
        self.stats = {"exchanges": 0, "long_lived": 0, "page_tokens": 0}
        #: the Graph version of the request being answered (URLs handed out carry it)
        self.version = "v23.0"

    # ------------------------------------------------------------ contract

    def setup(self, app: web.Application) -> None:
        r = app.router
        r.add_get(r"/{ver:v\d+\.\d+}/dialog/oauth", self._dialog)
        r.add_route("*", r"/{ver:v\d+\.\d+}/oauth/access_token", self._access_token)
        self.routes(app)
        r.add_post(r"/{ver:v\d+\.\d+}/", self._batch)
        r.add_post("/", self._batch)
        r.add_get(r"/{ver:v\d+\.\d+}/{tail:.+}", self._get)
        r.add_post(r"/{ver:v\d+\.\d+}/{tail:.+}", self._post)

    @abstractmethod
    def routes(self, app: web.Application) -> None:
        """Routes of the platform's own hosts (rupload), added before the Graph catch-alls."""

    @abstractmethod
    def graph_get(self, parts: list[str], query: dict[str, str], who: GraphToken) -> Any:
        """A GET of ``/{ver}/`` + ``parts``: the JSON answer, or raise ``GraphError``."""

    @abstractmethod
    def graph_post(self, parts: list[str], form: dict[str, str], who: GraphToken) -> Any:
        """A POST of ``/{ver}/`` + ``parts``: the JSON answer, or raise ``GraphError``."""

    def reset(self) -> None:
        self.codes.reset()
        self.graph_tokens.clear()
        self.people.clear()
        self.calls.clear()
        self.stats = {"exchanges": 0, "long_lived": 0, "page_tokens": 0}

    def expire_tokens(self) -> None:
        now = self.clock.time()
        for token in self.graph_tokens.values():
            if token.kind == "page" or not token.long_lived:
                token.expires_at = now

    def expire_all_user_tokens(self) -> None:
        """A password change: every token of every kind dies."""
        now = self.clock.time()
        for token in self.graph_tokens.values():
            token.expires_at = now

    def native_error(self, kind: str, **params: Any) -> web.Response:
        if kind == "rate_limit":
            minutes = max(1, -(-int(params.get("retry_after", 60)) // 60))
            return self.throttled(minutes).response()
        if kind == "auth":
            return token_dead().response()
        if kind == "challenge":
            return GraphError(
                400,
                "The action attempted has been deemed abusive or is otherwise disallowed",
                368,
                subcode=1390008,
                user_msg="You can't post right now: your account is temporarily blocked.",
            ).response()
        if kind == "quota":
            return self.quota_error().response()
        return GraphError(
            int(params.get("status", 500)),
            "An unexpected error has occurred. Please retry your request later.",
            2,
            transient=True,
        ).response()

    def throttled(self, minutes: int) -> GraphError:
        """The BUC throttling answer, with when access comes back."""
        person = next(iter(self.people.values()), None)
        obj = self.buc_object(person) if person else "0"
        usage = {obj: [self._buc_entry(100, minutes)]}
        code = 80002 if self.buc_type == "instagram" else 80001
        return GraphError(
            400,
            f"There have been too many calls to this {self.buc_type.rstrip('s')} account. "
            "Wait a bit and try again.",
            code,
            headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
        )

    @abstractmethod
    def quota_error(self) -> GraphError:
        """The platform's publishing-limit error."""

    @abstractmethod
    def buc_object(self, person: Person) -> str:
        """The object id BUC usage is keyed by (the IG account, the Page)."""

    # ------------------------------------------------------------ people

    def person(self, account: str) -> Person:
        if account not in self.people:
            n = len(self.people) + 1
            self.people[account] = Person(
                account=account,
                user_id=f"10{n:013d}",
                page_id=f"1{n:014d}",
                page_name=f"{account} Page",
                ig_id=f"178414{n:011d}",
                ig_username=account.replace("-", "_"),
            )
        return self.people[account]

    def new_id(self) -> str:
        return f"{next(self._ids) + 10**15}"

    def _issue(self, kind: str, person: Person, ttl: float | None, long: bool = False) -> str:
        token = f"EAA{self.name[:2]}{kind[0]}{secrets.token_urlsafe(24)}"
        expires = None if ttl is None else self.clock.time() + ttl
        self.graph_tokens[token] = GraphToken(kind, person, expires, long)
        return token

    def token_of(self, request: web.Request, form: dict[str, str] | None = None) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("bearer", "oauth") and value.strip():
            return value.strip()
        return request.query.get("access_token") or (form or {}).get("access_token", "")

    def who(self, token: str) -> GraphToken:
        """The live token's record, else the 190 error."""
        found = self.graph_tokens.get(token)
        if found is None:
            raise GraphError(400, "Invalid OAuth access token - Cannot parse access token", 190)
        if found.expires_at is not None and found.expires_at <= self.clock.time():
            raise token_dead()
        return found

    # ------------------------------------------------------------ usage

    def _usage_percent(self) -> int:
        now = self.clock.time()
        while self.calls and self.calls[0] <= now - 3600:
            self.calls.popleft()
        return min(100, len(self.calls) * 100 // APP_CALLS_PER_HOUR)

    def _buc_entry(self, percent: int, minutes: int = 0) -> dict[str, Any]:
        return {
            "type": self.buc_type,
            "call_count": percent,
            "total_cputime": percent // 2,
            "total_time": percent // 2,
            "estimated_time_to_regain_access": minutes,
        }

    def count_call(self) -> None:
        """One Graph call against the app budget; code 4 once it is used up."""
        if self._usage_percent() >= 100:
            raise GraphError(400, "(#4) Application request limit reached", 4, transient=True)
        self.calls.append(self.clock.time())

    def usage_headers(self, who: GraphToken | None) -> dict[str, str]:
        percent = self._usage_percent()
        headers = {
            "X-App-Usage": json.dumps(
                {"call_count": percent, "total_cputime": percent // 2, "total_time": percent // 2}
            )
        }
        if who is not None:
            usage = {self.buc_object(who.person): [self._buc_entry(percent)]}
            headers["X-Business-Use-Case-Usage"] = json.dumps(usage)
        return headers

    # ------------------------------------------------------------ auth routes

    async def _dialog(self, request: web.Request) -> web.Response:
        return authorize_redirect(request, self.codes)

    async def _access_token(self, request: web.Request) -> web.Response:
        form = {**request.query, **{k: str(v) for k, v in (await request.post()).items()}}
        if not form.get("client_id") or not form.get("client_secret"):
            return GraphError(400, "Missing client_id or client_secret parameter.", 101).response()
        if form.get("grant_type") == "fb_exchange_token":
            return self._exchange(form)
        try:
            issued = self.codes.redeem_code(
                form.get("code", ""),
                client_id=form["client_id"],
                redirect_uri=form.get("redirect_uri") or None,
                code_verifier=form.get("code_verifier") or None,
            )
        except TokenError as exc:
            return GraphError(
                400, f"Invalid verification code format. ({exc.reason})", 100
            ).response()
        self.stats["exchanges"] += 1
        person = self.person(issued.grant.account)
        token = self._issue("user", person, SHORT_TTL_S)
        return web.json_response(
            {"access_token": token, "token_type": "bearer", "expires_in": int(SHORT_TTL_S)}
        )

    def _exchange(self, form: dict[str, str]) -> web.Response:
        try:
            who = self.who(form.get("fb_exchange_token", ""))
        except GraphError as exc:
            return exc.response()
        if who.kind != "user":
            return GraphError(400, "fb_exchange_token must be a user access token", 100).response()
        self.stats["long_lived"] += 1
        token = self._issue("user", who.person, LONG_TTL_S, long=True)
        return web.json_response(
            {"access_token": token, "token_type": "bearer", "expires_in": int(LONG_TTL_S)}
        )

    def me(self, parts: list[str], query: dict[str, str], who: GraphToken) -> Any:
        """``/me`` and ``/me/accounts`` (a user token's Pages, with Page tokens)."""
        person = who.person
        if parts == ["me"]:
            if who.kind == "page":
                return {"id": person.page_id, "name": person.page_name}
            return {"id": person.user_id, "name": person.account}
        if parts == ["me", "accounts"]:
            if who.kind != "user":
                raise GraphError(400, "(#100) Tried accessing nonexisting field (accounts)", 100)
            self.stats["page_tokens"] += 1
            page: dict[str, Any] = {
                "id": person.page_id,
                "name": person.page_name,
                "category": "Media/news company",
                "access_token": self._issue("page", person, None),
                "tasks": ["ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE"],
            }
            fields = query.get("fields", "")
            if "instagram_business_account" in fields:
                linked = {"id": person.ig_id}
                if "username" in fields:  # field expansion: instagram_business_account{id,username}
                    linked["username"] = person.ig_username
                page["instagram_business_account"] = linked
            return {"data": [page], "paging": {"cursors": {"before": "MA", "after": "MA"}}}
        raise GraphError(400, f"Unknown path components: /{'/'.join(parts[1:])}", 2500)

    # ------------------------------------------------------------ graph routes

    async def _get(self, request: web.Request) -> web.Response:
        return self._answer(request, "GET", dict(request.query))

    async def _post(self, request: web.Request) -> web.Response:
        form = {**request.query, **{k: str(v) for k, v in (await request.post()).items()}}
        return self._answer(request, "POST", form)

    def _answer(self, request: web.Request, method: str, params: dict[str, str]) -> web.Response:
        parts = [p for p in request.match_info["tail"].split("/") if p]
        self.version = request.match_info["ver"]
        who: GraphToken | None = None
        try:
            who = self.who(self.token_of(request, params))
            self.count_call()
            data = self.call(method, parts, params, who)
        except GraphError as exc:
            headers = {**self.usage_headers(who), **exc.headers}
            return web.json_response(exc.body(), status=exc.status, headers=headers)
        return web.json_response(data, headers=self.usage_headers(who))

    def call(self, method: str, parts: list[str], params: dict[str, str], who: GraphToken) -> Any:
        if parts and parts[0] == "me" and method == "GET":
            return self.me(parts, params, who)
        if method == "GET":
            return self.graph_get(parts, params, who)
        return self.graph_post(parts, params, who)

    async def _batch(self, request: web.Request) -> web.Response:
        form = {**request.query, **{k: str(v) for k, v in (await request.post()).items()}}
        try:
            who = self.who(self.token_of(request, form))
            operations = json.loads(form.get("batch", "[]"))
        except GraphError as exc:
            return exc.response()
        except ValueError:
            return GraphError(400, "(#100) batch must be a JSON array", 100).response()
        if not isinstance(operations, list) or not operations:
            return GraphError(400, "(#100) batch must be a non-empty JSON array", 100).response()
        if len(operations) > MAX_BATCH:
            return GraphError(400, f"(#1) Batch requests cannot exceed {MAX_BATCH}", 1).response()
        return web.json_response(
            [self._operation(op, who) for op in operations], headers=self.usage_headers(who)
        )

    def _operation(self, op: Any, who: GraphToken) -> dict[str, Any]:
        """One batch operation: ``{code, headers, body}`` (each counts against the budget)."""
        from urllib.parse import parse_qsl, urlsplit

        method = str(op.get("method", "GET")).upper() if isinstance(op, dict) else "GET"
        url = urlsplit(str(op.get("relative_url", "")) if isinstance(op, dict) else "")
        parts = [p for p in url.path.split("/") if p]
        if parts and parts[0][:1] == "v" and parts[0][1:].replace(".", "").isdigit():
            parts = parts[1:]
        params = dict(parse_qsl(url.query))
        headers = [{"name": "Content-Type", "value": "text/javascript; charset=UTF-8"}]
        try:
            self.count_call()
            body, code = self.call(method, parts, params, who), 200
        except GraphError as exc:
            body, code = exc.body(), exc.status
        return {"code": code, "headers": headers, "body": json.dumps(body)}

    # ------------------------------------------------------------ rupload

    async def rupload(self, request: web.Request, upload: Upload | None) -> web.Response:
        """``POST`` of an upload URI: ``offset``/``file_size`` headers, raw body."""
        try:
            who = self.who(self._oauth(request))
        except GraphError:
            return _rupload_error(401, "AuthError", "Invalid OAuth access token.")
        if upload is None or who.person.account != upload.account:
            return _rupload_error(404, "NotFoundError", "Upload session not found.")
        try:
            offset = int(request.headers["offset"])
            size = int(request.headers["file_size"])
        except (KeyError, ValueError):
            return _rupload_error(400, "BadRequest", "offset and file_size headers are required")
        if upload.file_size is not None and size != upload.file_size:
            return _rupload_error(400, "BadRequest", "file_size differs from the first request")
        if offset > upload.offset or offset < 0:
            return _rupload_error(
                400, "OffsetMismatch", f"offset {offset} is past the {upload.offset} bytes received"
            )
        upload.file_size = size
        skip = upload.offset - offset  # bytes the server already holds: counted, not kept
        async for piece in request.content.iter_chunked(256 * 1024):
            upload.bytes_received += len(piece)
            if skip:
                dropped = min(skip, len(piece))
                piece, skip = piece[dropped:], skip - dropped
            room = size - upload.offset
            piece = piece[:room]
            if len(upload.head) < 16:
                upload.head += piece[: 16 - len(upload.head)]
            upload.sha.update(piece)
            upload.offset += len(piece)
        if upload.complete and upload.completed_at is None:
            upload.completed_at = self.clock.time()
        return web.json_response({"success": True, "message": "Upload successful."})

    async def rupload_status(self, request: web.Request, upload: Upload | None) -> web.Response:
        """``GET`` of an upload URI: how many bytes it holds."""
        try:
            who = self.who(self._oauth(request))
        except GraphError:
            return _rupload_error(401, "AuthError", "Invalid OAuth access token.")
        if upload is None or who.person.account != upload.account:
            return _rupload_error(404, "NotFoundError", "Upload session not found.")
        return web.json_response({"offset": upload.offset})

    @staticmethod
    def _oauth(request: web.Request) -> str:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        return value.strip() if scheme == "OAuth" else ""


def _rupload_error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response(
        {"debug_info": {"retriable": status >= 500, "type": kind, "message": message}},
        status=status,
    )


def fields_of(query: dict[str, str], default: str) -> list[str]:
    return [f.strip() for f in (query.get("fields") or default).split(",") if f.strip()]


def graph_time(epoch: float) -> str:
    """Graph's timestamp format: ``2026-11-30T22:51:30+0000``."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
