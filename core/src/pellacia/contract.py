"""The types of the plugin contract: what hooks register and what core hands back.

Hooks (``hookspecs.py``) are synchronous and only *register* objects. All
network I/O lives in the async methods of those objects, described here as
``Protocol``s. Plugins build their objects from these types; core never imports
a plugin. Changing anything here in an incompatible way bumps
``pellacia.PLUGIN_API_VERSION``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import aiohttp

    from pellacia.clock import Clock

#: Metric names every platform maps its own fields to. A platform fills the
#: ones it has; the raw payload is always kept beside them.
UNIFIED_METRICS: tuple[str, ...] = (
    "views",
    "likes",
    "comments",
    "shares",
    "saves",
    "impressions",
    "reach",
    "clicks",
    "watch_time_s",
    "avg_view_duration_s",
)

Priority = Literal["normal", "breaking"]


# --------------------------------------------------------------------------- media


@dataclass(frozen=True)
class MediaInfo:
    """What the media probe read from a real video file."""

    path: Path
    size: int
    container: str  # "mp4", "mov", "webm", "matroska", ...
    duration: float  # seconds
    width: int
    height: int
    video_codec: str | None  # "h264", "hevc", "vp9", "av1", ...
    audio_codec: str | None
    bitrate: int | None  # bits per second, whole file
    fps: float | None

    @property
    def aspect(self) -> float:
        """Width divided by height (``0.5625`` for a vertical 9:16 video)."""
        return self.width / self.height if self.height else 0.0


@dataclass(frozen=True)
class MediaRules:
    """A platform's limits for a video post. ``None`` means "no limit"."""

    containers: frozenset[str] = frozenset({"mp4", "mov"})
    video_codecs: frozenset[str] = frozenset()  # empty: any codec
    min_bytes: int | None = None
    max_bytes: int | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    min_side: int | None = None  # pixels, each of width and height
    max_side: int | None = None
    min_aspect: float | None = None  # width / height
    max_aspect: float | None = None
    min_fps: float | None = None
    max_fps: float | None = None
    max_title_chars: int | None = None
    max_description_chars: int | None = None


@dataclass(frozen=True)
class RuleViolation:
    """One rule a post breaks on one platform, said so a person can fix it."""

    rule: str  # stable identifier, e.g. "max_duration"
    message: str  # "duration 12m30s exceeds TikTok's limit of 10m"
    platform: str | None = None


# ------------------------------------------------------------------ platforms


@dataclass(frozen=True)
class Capabilities:
    """What a platform can do; the engine and the conformance kit read this."""

    resumable_upload: bool = True
    #: publish() is a call of its own. When False the post goes public after
    #: processing and publish() only waits for that and returns the post.
    separate_publish: bool = True
    #: the platform can hold a post until a time of its own (e.g. YouTube publishAt)
    scheduled_publish: bool = False
    #: most posts one fetch_metrics call may be given
    metrics_batch_size: int = 1


@dataclass(frozen=True)
class QuotaBudget:
    """A platform allowance the engine checks *before* posting.

    A delivery that would exceed it waits for the window to reset (with this
    budget named as the reason) instead of failing at the platform.
    """

    name: str  # "youtube:daily-units"
    limit: int
    cost_per_delivery: int = 1
    #: rolling window; or None when the budget resets at local midnight
    window: timedelta | None = None
    #: IANA zone whose midnight resets the budget (YouTube: America/Los_Angeles)
    reset_timezone: str | None = None
    #: per account (True) or per application (False)
    per_account: bool = True
    #: spent by the plugin before *each* call it limits (``await ctx.spend(name)``,
    #: e.g. TikTok's 6 inits a minute), instead of once per delivery at claim
    per_call: bool = False


@dataclass(frozen=True)
class PublishRequest:
    """One delivery as a plugin sees it: the video and what to say with it."""

    delivery_id: str
    idempotency_key: str  # stable for the delivery's lifetime: use it where the platform allows
    platform: str
    account: str
    video: MediaInfo
    title: str
    description: str = ""
    hashtags: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)  # per-platform overrides
    priority: Priority = "normal"
    scheduled_at: datetime | None = None

    @property
    def caption(self) -> str:
        """Description followed by the hashtags, as most platforms want it."""
        tags = " ".join(self.hashtags)
        return f"{self.description}\n\n{tags}".strip() if tags else self.description


@dataclass(frozen=True)
class UploadReceipt:
    """What ``upload`` hands ``publish``: the platform's handle on the uploaded media.

    ``state`` must be JSON-serialisable: core stores it with the delivery so a
    publish after a crash can go on from it.
    """

    remote_id: str | None
    state: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RemotePost:
    """A post that exists on the platform."""

    remote_id: str
    url: str | None = None
    published_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricsSnapshot:
    """Metrics of one post at one moment, in the unified vocabulary plus raw fields."""

    remote_id: str
    metrics: Mapping[str, float]
    raw: Mapping[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------- auth


@dataclass(frozen=True)
class TokenSet:
    """OAuth tokens of one platform account. ``repr`` never shows a token."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()
    #: non-secret facts the platform returned (TikTok open_id, channel id, ...)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for key in ("expires_at", "refresh_expires_at"):
            value = data[key]
            data[key] = value.isoformat() if value else None
        data["scopes"] = list(self.scopes)
        data["extra"] = dict(self.extra)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TokenSet:
        def when(key: str) -> datetime | None:
            value = data.get(key)
            return datetime.fromisoformat(value) if value else None

        return cls(
            access_token=data["access_token"],
            refresh_token=data.get("refresh_token"),
            expires_at=when("expires_at"),
            refresh_expires_at=when("refresh_expires_at"),
            scopes=tuple(data.get("scopes") or ()),
            extra=dict(data.get("extra") or {}),
        )


@dataclass(frozen=True)
class OAuthClient:
    """The application's OAuth registration on a platform."""

    client_id: str
    client_secret: str | None = field(default=None, repr=False)


class TokenSource(Protocol):
    """Core's handle on an account's tokens, given to plugins in the context.

    ``current`` refreshes ahead of expiry; ``refresh`` forces one refresh (call
    it once after a 401, then retry once). Both persist what they get and raise
    ``AuthExpired`` when the platform refuses to refresh.
    """

    async def current(self) -> TokenSet: ...

    async def refresh(self) -> TokenSet: ...


class AuthKind(enum.StrEnum):
    """How an account signs in: the flow a platform declares on its ``AuthFlow``.

    Core asks the user only for what the kind needs (``auth login``) and calls
    the matching protocol's method below.
    """

    #: authorization code + PKCE (S256) on a loopback redirect: ``AuthorizationCodeFlow``
    AUTHORIZATION_CODE = "authorization_code"
    #: resource-owner password grant (username + password): ``PasswordFlow``
    PASSWORD = "password"  # noqa: S105  a grant type's name
    #: the application's own credentials, no user: ``ClientCredentialsFlow``
    CLIENT_CREDENTIALS = "client_credentials"
    #: a token the user obtained elsewhere, exchanged for a long-lived one: ``TokenExchangeFlow``
    TOKEN_EXCHANGE = "token_exchange"  # noqa: S105  a grant type's name
    #: a static API key, used as is: ``ApiKeyFlow``
    API_KEY = "api_key"

    @property
    def needs_client(self) -> bool:
        """Whether this kind needs the application's OAuth registration by default."""
        return self in (
            AuthKind.AUTHORIZATION_CODE,
            AuthKind.CLIENT_CREDENTIALS,
            AuthKind.TOKEN_EXCHANGE,
        )


#: what core passes as ``client`` when the flow needs no OAuth app and none is configured
NO_CLIENT = OAuthClient(client_id="")


@runtime_checkable
class AuthFlow(Protocol):
    """What every platform's auth flow has: its scopes and token refresh.

    A flow also declares its kind as a class attribute, ``kind: AuthKind``
    (absent means ``AUTHORIZATION_CODE``, the one kind before kinds existed),
    and implements that kind's protocol below. It may set ``needs_client``
    (bool) when it departs from ``kind.needs_client``: a password-grant
    platform whose token endpoint wants a client id, say. Read both with
    ``auth_kind`` and ``needs_client``.
    """

    scopes: Sequence[str]

    async def refresh(
        self, ctx: PlatformContext, *, client: OAuthClient, tokens: TokenSet
    ) -> TokenSet:
        """New tokens from the refresh token (or, for kinds without one, by signing
        in again with what the flow holds); keep a rotated refresh token.

        Raises ``AuthExpired`` when the platform refuses (revoked, expired).
        """
        ...


@runtime_checkable
class AuthorizationCodeFlow(AuthFlow, Protocol):
    """``AuthKind.AUTHORIZATION_CODE``: OAuth 2.0 authorization code with PKCE."""

    def authorization_url(
        self,
        ctx: PlatformContext,
        *,
        client: OAuthClient,
        redirect_uri: str,
        state: str,
        code_challenge: str,
    ) -> str:
        """The URL the user opens to grant access (S256 PKCE challenge)."""
        ...

    async def exchange_code(
        self,
        ctx: PlatformContext,
        *,
        client: OAuthClient,
        code: str,
        redirect_uri: str,
        code_verifier: str,
    ) -> TokenSet:
        """Trade the authorization code for tokens."""
        ...


@runtime_checkable
class PasswordFlow(AuthFlow, Protocol):
    """``AuthKind.PASSWORD``: the resource-owner password grant."""

    async def password_login(
        self, ctx: PlatformContext, *, client: OAuthClient, username: str, password: str
    ) -> TokenSet:
        """Tokens for ``username``. The password is used once and never stored."""
        ...


@runtime_checkable
class ClientCredentialsFlow(AuthFlow, Protocol):
    """``AuthKind.CLIENT_CREDENTIALS``: the application acts as itself."""

    async def client_login(self, ctx: PlatformContext, *, client: OAuthClient) -> TokenSet:
        """Tokens for the application (``refresh`` usually calls this again)."""
        ...


@runtime_checkable
class TokenExchangeFlow(AuthFlow, Protocol):
    """``AuthKind.TOKEN_EXCHANGE``: a short-lived token becomes a long-lived one."""

    async def exchange_token(
        self, ctx: PlatformContext, *, client: OAuthClient, token: str
    ) -> TokenSet:
        """The long-lived tokens for ``token`` (which the user got elsewhere)."""
        ...


@runtime_checkable
class ApiKeyFlow(AuthFlow, Protocol):
    """``AuthKind.API_KEY``: a static key; ``refresh`` raises ``AuthExpired``."""

    async def api_key_login(self, ctx: PlatformContext, *, api_key: str) -> TokenSet:
        """Tokens holding ``api_key`` (check it with the platform when it can tell)."""
        ...


def auth_kind(flow: AuthFlow) -> AuthKind:
    """The kind ``flow`` declares (``AUTHORIZATION_CODE`` when it declares none)."""
    return AuthKind(getattr(flow, "kind", AuthKind.AUTHORIZATION_CODE))


def needs_client(flow: AuthFlow) -> bool:
    """Whether signing in and refreshing with ``flow`` need an OAuth client id."""
    declared = getattr(flow, "needs_client", None)
    return auth_kind(flow).needs_client if declared is None else bool(declared)


# -------------------------------------------------------------------- context


class UploadSession(Protocol):
    """Core's side of one upload: resume state and progress.

    ``resume_state`` is what the plugin last saved for this delivery (None on a
    fresh upload). ``save_state`` persists durably before it returns: call it
    after every acknowledged chunk so a crash resumes there, not at zero.
    """

    resume_state: Mapping[str, Any] | None

    async def save_state(self, state: Mapping[str, Any]) -> None: ...

    def progress(self, sent: int, total: int) -> None: ...


@dataclass
class PlatformContext:
    """Everything a platform object needs for one operation; built by core.

    ``http`` is already bound to the route (direct or proxy). Plugins never
    open their own sessions, read config files or touch the database.
    ``base_url`` is the account's own API base (``base_url`` under
    ``[[accounts.<platform>]]``): the instance of a federated platform.
    """

    platform: str
    account: str
    http: aiohttp.ClientSession
    tokens: TokenSource
    clock: Clock
    settings: Mapping[str, Any] = field(default_factory=dict)
    sandbox_url: str | None = None
    route: str = "direct"
    base_url: str | None = None
    #: set by core where budgets are kept (see :meth:`spend`)
    spender: Callable[[str], Awaitable[None]] | None = field(default=None, repr=False)

    async def spend(self, budget: str) -> None:
        """Reserve one use of the platform's ``per_call`` budget named ``budget``
        right before the call it limits; raises ``RateLimited`` (``reset_at``:
        when the budget has room again) instead of letting the call draw the
        platform's own limit. A no-op where core keeps no budgets (plugin tests)."""
        if self.spender is not None:
            await self.spender(budget)

    def endpoint(self, real_base: str | None = None) -> str:
        """Where this account's API is, without a trailing slash.

        The sandbox's fake of this platform when pellacia-dist runs against
        the sandbox; else the account's ``base_url`` when configured; else
        ``real_base`` (e.g. ``https://open.tiktokapis.com``). A federated
        platform passes no ``real_base``: an account without ``base_url``
        then raises ``Rejected`` saying what to configure.
        """
        if self.sandbox_url:
            return f"{self.sandbox_url.rstrip('/')}/{self.platform}"
        base = self.base_url or real_base
        if not base:
            from pellacia.errors import Rejected

            raise Rejected(
                f"{self.platform}/{self.account}: no instance URL; set base_url under "
                f"[[accounts.{self.platform}]] for the account named {self.account!r}",
                platform=self.platform,
            )
        return base.rstrip("/")


@runtime_checkable
class Platform(Protocol):
    """A publishing platform (YouTube, TikTok, Instagram, ...).

    A plugin may register several (plugin-meta registers Instagram and Facebook).
    Every method raises only ``pellacia.errors`` classes. An operation the
    plugin cannot do raises ``Unsupported``: never a fake success.
    """

    # Read-only members (plain attributes satisfy them too): core never assigns
    # them, so a frozen dataclass or a narrower type (a tuple) conforms.
    @property
    def name(self) -> str:
        """``"tiktok"``: stable, lower case, used in config and the database."""
        ...

    @property
    def display_name(self) -> str:
        """``"TikTok"``."""
        ...

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def media_rules(self) -> MediaRules: ...

    @property
    def auth(self) -> AuthFlow: ...

    @property
    def quotas(self) -> Sequence[QuotaBudget]: ...

    async def upload(
        self, request: PublishRequest, session: UploadSession, ctx: PlatformContext
    ) -> UploadReceipt:
        """Send the video (resumable, streaming from disk, constant memory).

        Resumes from ``session.resume_state`` when present; saves state after
        every acknowledged chunk; reports progress.
        """
        ...

    async def publish(
        self, request: PublishRequest, receipt: UploadReceipt, ctx: PlatformContext
    ) -> RemotePost:
        """Make the uploaded media a public post and return it.

        Core marks the delivery ``publishing`` before calling this. A timeout
        after the request went out must raise ``OutcomeUnknown``.
        """
        ...

    async def reconcile(
        self, request: PublishRequest, receipt: UploadReceipt | None, ctx: PlatformContext
    ) -> RemotePost | None:
        """Find the post this delivery already made, if any (the anti-duplicate check).

        Returns None only when sure there is none; raises ``OutcomeUnknown``
        when it cannot tell.
        """
        ...

    async def fetch_metrics(
        self, posts: Sequence[RemotePost], ctx: PlatformContext
    ) -> list[MetricsSnapshot]:
        """Metrics for up to ``capabilities.metrics_batch_size`` posts of one account.

        A metric the platform does not report (yet) is left out of the snapshot,
        never 0. A post left out of the answer is one the platform no longer
        has: core's collector marks it removed when that repeats. A platform
        may also offer ``async def account_metrics(ctx) -> dict[str, float]``
        (followers and the like), snapshotted once a day.
        """
        ...


# ------------------------------------------------------------- fallback layers


@dataclass(frozen=True)
class RouteHandle:
    """An open route: how to reach the platform while it is held."""

    name: str
    proxy: str | None = field(default=None, repr=False)  # may carry credentials


@runtime_checkable
class Route(Protocol):
    """A way to reach a platform: direct, or through a VPN/proxy.

    A route may also define ``serves(platform: str) -> bool`` to restrict the
    platforms it is used for (absent: every platform).
    """

    @property
    def name(self) -> str:
        """``"direct"``, ``"vpn:nl-1"``."""
        ...

    @property
    def kind(self) -> Literal["direct", "proxy"]: ...

    def open(self) -> AbstractAsyncContextManager[RouteHandle]:
        """Bring the route up for the duration of the ``async with``."""
        ...


@dataclass
class BrowserJob:
    """What a browser uploader gets: the request, the route and where to leave evidence."""

    request: PublishRequest
    route: RouteHandle
    artifacts_dir: Path  # screenshots and page dumps for the manual queue
    settings: Mapping[str, Any] = field(default_factory=dict)
    sandbox_url: str | None = None


@runtime_checkable
class BrowserUploader(Protocol):
    """Publishes through the platform's web upload page with a real browser."""

    @property
    def platform(self) -> str: ...

    async def upload(self, job: BrowserJob) -> RemotePost: ...


# --------------------------------------------------------- alerts, validators


AlertLevel = Literal["info", "warning", "critical"]


@dataclass(frozen=True)
class Alert:
    """Something the operator should hear about within seconds."""

    level: AlertLevel
    title: str
    body: str = ""
    platform: str | None = None
    delivery_id: str | None = None
    at: datetime | None = None


@runtime_checkable
class AlertSink(Protocol):
    """Delivers alerts somewhere (log, Telegram, ...). Core isolates sinks from
    each other: one failing sink never stops the others."""

    @property
    def name(self) -> str: ...

    async def send(self, alert: Alert) -> None: ...


@runtime_checkable
class Validator(Protocol):
    """Checks a post for one platform before anything is sent."""

    @property
    def name(self) -> str: ...

    def validate(self, request: PublishRequest, platform: Platform) -> Sequence[RuleViolation]: ...


@dataclass(frozen=True)
class MigrationSource:
    """Numbered ``NNNN_name.sql`` files shipped inside a package.

    ``owner`` prefixes the plugin's tables and records; ``package`` is the
    importable package holding the files (read with importlib.resources).
    """

    owner: str
    package: str
