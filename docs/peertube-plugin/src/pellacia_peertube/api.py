"""PeerTube's REST API as ``pellacia.sdk`` sees it: where it is and how it says no.

PeerTube is federated: every account lives on an instance of its own, so
there is no single API base. ``base_url`` stays empty and ``ctx.endpoint()``
gives the account's instance (``base_url`` under ``[[accounts.peertube]]``),
or the sandbox's fake of PeerTube.

Errors are RFC 7807 problem documents: ``detail`` says what, ``code`` (when
present) which case. ``ApiClient`` already maps 429 (with ``Retry-After``),
401, 5xx and the rest of 4xx; this adds PeerTube's own cases.
"""

from __future__ import annotations

from typing import ClassVar

from pellacia.errors import Challenge, PlatformError, Rejected
from pellacia.log import redact_text
from pellacia.sdk import ApiClient, Reply

NAME = "peertube"
#: a daily quota is counted over the last 24 hours: wait that long at most
QUOTA_WAIT_S = 24 * 3600.0


class PeerTubeApi(ApiClient):
    """Authorized calls to the account's PeerTube instance."""

    display_name: ClassVar[str] = "PeerTube"
    base_url: ClassVar[str] = ""  # federated: ctx.endpoint() is the account's instance

    def describe(self, reply: Reply) -> str:
        body = reply.json()
        if not isinstance(body, dict):
            return ""
        text = body.get("detail") or body.get("error") or body.get("title") or ""
        return redact_text(str(text))[:300]

    def error_for(self, reply: Reply, action: str) -> PlatformError:
        body = reply.json()
        code = body.get("code") if isinstance(body, dict) else None
        text = f"PeerTube {action}: HTTP {reply.status}: {self.describe(reply)}"
        if code == "quota_reached":  # daily or total video quota of the user
            return self.rate_limited(text, QUOTA_WAIT_S, quota="peertube:video-quota")
        if code == "account_blocked":
            return Challenge(text, platform=NAME)
        if reply.status in (413, 415, 422):  # too large, not a video type, unreadable
            return Rejected(text, platform=NAME)
        return super().error_for(reply, action)
