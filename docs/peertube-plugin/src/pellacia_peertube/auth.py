"""Signing in to a PeerTube instance: the OAuth 2.0 password grant.

The instance hands its own OAuth client to anybody at
``/api/v1/oauth-clients/local``; the token endpoint wants it with every
grant. So pellacia-dist needs no client id of its own (``needs_client`` is
False, the password kind's default): ``client_form`` fetches the instance's.
"""

from __future__ import annotations

from pellacia.contract import OAuthClient, PlatformContext
from pellacia.sdk import PasswordGrant, TokenEndpoint

from pellacia_peertube.api import PeerTubeApi

#: the instance's token endpoint (the base is the account's instance)
TOKENS = TokenEndpoint("", "/api/v1/users/token", "PeerTube")


class PeerTubeAuth(PasswordGrant):
    """``grant_type=password`` to sign in, ``refresh_token`` to refresh (rotated)."""

    def __init__(self) -> None:
        super().__init__(TOKENS)

    async def client_form(self, ctx: PlatformContext, client: OAuthClient) -> dict[str, str]:
        local = await PeerTubeApi(ctx).json(
            "GET", "/api/v1/oauth-clients/local", action="OAuth client lookup", auth=False
        )
        return {"client_id": str(local["client_id"]), "client_secret": str(local["client_secret"])}
