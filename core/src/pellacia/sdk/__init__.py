"""What every platform plugin would otherwise rewrite (see docs/sdk.md).

- ``ApiClient``: the authorized request (bearer token, one refresh + retry
  after a 401, 429 → ``RateLimited``, 5xx and network errors → ``Transient``,
  a status→error mapping the plugin extends), and its ``Reply``.
- ``upload_chunks`` and ``Chunk``: the resumable upload loop, streaming from
  disk in constant memory, saving state after every acknowledged chunk.
- ``poll_delays``: waits between processing/status polls (soon, then backing off).
- ``parse_token_response`` and ``TokenEndpoint``: OAuth token answers → ``TokenSet``.
- ``AuthorizationCodeGrant``, ``PasswordGrant``, ``ClientCredentialsGrant``, ``StaticApiKey``: ready auth
  flows of those kinds (``pellacia.contract.AuthKind``).
"""

from __future__ import annotations

from pellacia.sdk.auth import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    OAuthGrant,
    PasswordGrant,
    StaticApiKey,
)
from pellacia.sdk.http import NETWORK_ERRORS, ApiClient, Body, Reply
from pellacia.sdk.polling import FIRST_POLL_S, poll_delays
from pellacia.sdk.tokens import TokenEndpoint, parse_token_response
from pellacia.sdk.upload import PIECE, Chunk, read_slice, upload_chunks

__all__ = [
    "FIRST_POLL_S",
    "NETWORK_ERRORS",
    "PIECE",
    "ApiClient",
    "AuthorizationCodeGrant",
    "Body",
    "Chunk",
    "ClientCredentialsGrant",
    "OAuthGrant",
    "PasswordGrant",
    "Reply",
    "StaticApiKey",
    "TokenEndpoint",
    "parse_token_response",
    "poll_delays",
    "read_slice",
    "upload_chunks",
]
