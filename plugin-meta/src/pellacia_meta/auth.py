"""Facebook Login for a Page and its Instagram professional account.

An authorization-code flow (``AuthKind.AUTHORIZATION_CODE``, PKCE S256, which
Facebook Login accepts) on a loopback redirect, then the token chain of
protocols.md §4:

1. code → short-lived user token (about 1 h);
2. ``grant_type=fb_exchange_token`` → long-lived user token (60 days);
3. ``GET /me/accounts`` → the Page's token (no clock expiry) and, through
   the Page, its ``instagram_business_account``.

What is stored (``TokenSet``): the Page token as the access token (Graph
accepts it for the Page's and its Instagram account's calls), the long-lived
user token as the "refresh token" (what gets a new Page token), its death as
``refresh_expires_at``, and ``expires_at`` a week before that, so core
refreshes ahead of time: a refresh re-exchanges the user token while it still
lives, then fetches the Page token again. A refused refresh (code 190: the
password changed, a permission was revoked) is ``AuthExpired`` naming the
``auth login`` command. ``extra`` says which Page and Instagram account the
name is bound to (``page_id``, ``page_name``, ``ig_user_id``).

Which Page: ``page_id`` in the plugin settings, or ``pages = {account = page_id}``,
or the one Page the user manages (for Instagram: the one with a linked account).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from pellacia.contract import OAuthClient, PlatformContext, TokenSet
from pellacia.errors import AuthExpired, ConfigError, Rejected
from pellacia.sdk import AuthorizationCodeGrant, TokenEndpoint

from pellacia_meta.graph import GRAPH, VERSION, WWW, GraphApi

TOKENS = TokenEndpoint(GRAPH, f"/{VERSION}/oauth/access_token", "Facebook Login")
#: renew the long-lived user token this long before it dies
RENEW_BEFORE = timedelta(days=7)
PAGE_FIELDS = "id,name,access_token,tasks,instagram_business_account{id,username}"

INSTAGRAM_SCOPES: tuple[str, ...] = (
    "instagram_basic",
    "instagram_content_publish",
    "instagram_manage_insights",
    "pages_show_list",
    "pages_read_engagement",
    "business_management",
)
FACEBOOK_SCOPES: tuple[str, ...] = (
    "pages_show_list",
    "pages_read_engagement",
    "pages_manage_posts",
    "read_insights",
    "business_management",
)


class MetaLogin(AuthorizationCodeGrant):
    """The ``AuthFlow`` of Instagram and Facebook: the Facebook Login dialog
    (comma-separated scopes, PKCE S256), then the Page's tokens."""

    authorize_base = WWW
    authorize_path = f"/{VERSION}/dialog/oauth"
    scope_separator = ","

    def __init__(self, platform: str, scopes: Sequence[str]) -> None:
        super().__init__(TOKENS, scopes)
        self.platform = platform

    def __repr__(self) -> str:
        return f"MetaLogin({self.platform!r})"

    async def client_form(self, ctx: PlatformContext, client: OAuthClient) -> dict[str, str]:
        """The Meta app's id and secret (Facebook Login takes no public client)."""
        return _client(client)

    async def exchange_code(
        self,
        ctx: PlatformContext,
        *,
        client: OAuthClient,
        code: str,
        redirect_uri: str,
        code_verifier: str,
    ) -> TokenSet:
        """Code → short-lived → long-lived user token → the Page token (and IG account)."""
        short = await super().exchange_code(
            ctx, client=client, code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
        )
        user = await _long_lived(ctx, client, short.access_token)
        return await self.bind(ctx, user, previous=None, app_id=client.client_id)

    async def refresh(
        self, ctx: PlatformContext, *, client: OAuthClient, tokens: TokenSet
    ) -> TokenSet:
        """A new Page token; the user token is re-exchanged first when it nears its end."""
        if not tokens.refresh_token:
            raise AuthExpired(self._relogin(ctx, "no user token stored"), platform=self.platform)
        user = TokenSet(access_token=tokens.refresh_token, expires_at=tokens.refresh_expires_at)
        if user.expires_at is None or user.expires_at - RENEW_BEFORE <= ctx.clock.now():
            user = await _long_lived(ctx, client, tokens.refresh_token)
        return await self.bind(ctx, user, previous=tokens, app_id=client.client_id)

    async def bind(
        self, ctx: PlatformContext, user: TokenSet, *, previous: TokenSet | None, app_id: str
    ) -> TokenSet:
        """The stored tokens for ``user``'s chosen Page (and its Instagram account)."""
        api = GraphApi(ctx)  # a refused user token (190) is AuthExpired naming `auth login`
        data = await api.json(
            "GET",
            api.path("me", "accounts"),
            action="list Pages",
            params={"fields": PAGE_FIELDS, "limit": "100"},
            headers={"Authorization": f"Bearer {user.access_token}"},
            auth=False,
        )
        pages = [p for p in data.get("data") or [] if isinstance(p, dict)]
        page = self._choose(ctx, pages, previous)
        extra: dict[str, Any] = {
            "page_id": str(page["id"]),
            "page_name": page.get("name"),
            "app_id": app_id,  # the Resumable Upload API's session lives under the app
        }
        extra["bound_to"] = f"Page {page.get('name') or page['id']}"
        linked = page.get("instagram_business_account") or {}
        if linked.get("id"):  # kept for Facebook too: one sign-in serves both
            extra.update(ig_user_id=str(linked["id"]), ig_username=linked.get("username"))
            extra["bound_to"] += f" + Instagram @{linked.get('username') or linked['id']}"
        elif self.platform == "instagram":
            raise Rejected(
                f"the Facebook Page {page.get('name')!r} has no Instagram professional "
                "account linked: link a Business or Creator account to it in Meta "
                "Business Suite, then sign in again",
                platform=self.platform,
            )
        dies = user.expires_at
        return TokenSet(
            access_token=str(page["access_token"]),
            refresh_token=user.access_token,
            expires_at=dies - RENEW_BEFORE if dies else None,
            refresh_expires_at=dies,
            scopes=tuple(self.scopes),
            extra=extra,
        )

    def _choose(
        self, ctx: PlatformContext, pages: list[dict[str, Any]], previous: TokenSet | None
    ) -> dict[str, Any]:
        wanted = _wanted_page(ctx.settings, ctx.account) or (
            str(previous.extra.get("page_id") or "") if previous else ""
        )
        if wanted:
            for page in pages:
                if str(page.get("id")) == wanted:
                    return page
            raise AuthExpired(
                self._relogin(ctx, f"the user no longer manages the Page {wanted}"),
                platform=self.platform,
            )
        usable = [p for p in pages if p.get("access_token")]
        if self.platform == "instagram":
            usable = [p for p in usable if p.get("instagram_business_account")] or usable
        if len(usable) == 1:
            return usable[0]
        if not usable:
            raise Rejected(
                "this Facebook user manages no Page (or did not grant pages_show_list)",
                platform=self.platform,
            )
        names = ", ".join(f"{p.get('name')} ({p.get('id')})" for p in usable)
        raise ConfigError(
            f"this Facebook user manages several Pages: {names}; set page_id (or "
            f"pages = {{ {ctx.account} = ... }}) in the meta plugin settings"
        )

    def _relogin(self, ctx: PlatformContext, why: str) -> str:
        return (
            f"{why}; sign in again with "
            f"`pellacia-dist auth login {self.platform} --account {ctx.account}`"
        )


async def _long_lived(ctx: PlatformContext, client: OAuthClient, token: str) -> TokenSet:
    form = {"grant_type": "fb_exchange_token", "fb_exchange_token": token, **_client(client)}
    return await TOKENS.post(
        ctx,
        form,
        what="long-lived token exchange",
        refused_hint=f"sign in again with `pellacia-dist auth login {ctx.platform}`",
    )


def _client(client: OAuthClient) -> dict[str, str]:
    if not client.client_secret:
        raise ConfigError("Facebook Login needs the Meta app's id and secret (client_secret)")
    return {"client_id": client.client_id, "client_secret": client.client_secret}


def _wanted_page(settings: Mapping[str, Any], account: str) -> str:
    pages = settings.get("pages")
    if isinstance(pages, Mapping) and pages.get(account):
        return str(pages[account])
    return str(settings.get("page_id") or "")
