"""One platform per sign-in kind that no real plugin uses, each on pellacia.sdk.

They only sign in (every operation is ``Unsupported``): enough for ``auth
login`` and ``sign_in`` to be tested on each kind against ``fake.KindsFake``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pellacia.contract import (
    AuthKind,
    Capabilities,
    MediaRules,
    MetricsSnapshot,
    OAuthClient,
    PlatformContext,
    PublishRequest,
    QuotaBudget,
    RemotePost,
    TokenSet,
    UploadReceipt,
    UploadSession,
)
from pellacia.errors import Unsupported
from pellacia.sdk import (
    ClientCredentialsGrant,
    OAuthGrant,
    PasswordGrant,
    StaticApiKey,
    TokenEndpoint,
)

REAL = "https://kinds.invalid"


class TokenExchange(OAuthGrant):
    """A Meta-like exchange of a short-lived token for a long-lived one."""

    kind = AuthKind.TOKEN_EXCHANGE

    async def exchange_token(
        self, ctx: PlatformContext, *, client: OAuthClient, token: str
    ) -> TokenSet:
        form = {"grant_type": "exchange_token", "token": token}
        return await self.token(ctx, client, form, what="token exchange")


class KindsPlatform:
    """A platform that can only sign in."""

    display_name = "Kinds"
    capabilities = Capabilities()
    media_rules = MediaRules()
    quotas: Sequence[QuotaBudget] = ()

    def __init__(self, name: str, auth: object) -> None:
        self.name = name
        self.display_name = f"Kinds {name.removeprefix('kinds_')}"
        self.auth = auth

    def _no(self) -> Unsupported:
        return Unsupported("this test platform only signs in", platform=self.name)

    async def upload(
        self, request: PublishRequest, session: UploadSession, ctx: PlatformContext
    ) -> UploadReceipt:
        raise self._no()

    async def publish(
        self, request: PublishRequest, receipt: UploadReceipt, ctx: PlatformContext
    ) -> RemotePost:
        raise self._no()

    async def reconcile(
        self, request: PublishRequest, receipt: UploadReceipt | None, ctx: PlatformContext
    ) -> RemotePost | None:
        raise self._no()

    async def fetch_metrics(
        self, posts: Sequence[RemotePost], ctx: PlatformContext
    ) -> list[MetricsSnapshot]:
        raise self._no()


def _endpoint(name: str) -> TokenEndpoint:
    return TokenEndpoint(REAL, "/token", f"Kinds {name}", default_expires_in=3600)


PLATFORMS = (
    KindsPlatform("kinds_password", PasswordGrant(_endpoint("password"), scopes=("upload",))),
    KindsPlatform("kinds_client", ClientCredentialsGrant(_endpoint("client"))),
    KindsPlatform("kinds_exchange", TokenExchange(_endpoint("exchange"))),
    KindsPlatform("kinds_apikey", StaticApiKey()),
)
