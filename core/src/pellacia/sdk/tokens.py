"""OAuth token responses → ``TokenSet``, and the token endpoint call itself.

``parse_token_response`` reads what OAuth 2.0 token endpoints answer (RFC 6749
§5.1 and the common variations): ``expires_in`` / ``expires_at``,
``refresh_expires_in`` (TikTok) or ``refresh_token_expires_in`` (LinkedIn),
``scope`` as a space- or comma-separated string or ``scopes`` as a list, and
every other non-secret field kept in ``extra`` (TikTok's ``open_id``, ...).
Given the previous tokens it keeps what a refresh answer leaves out: a
refresh token that was not rotated, the scopes, the extra facts.

``TokenEndpoint.post`` sends a form to a token endpoint and maps refusals:
``invalid_grant`` and other 4xx → ``AuthExpired`` (sign in again), 429/5xx
and network errors → ``Transient``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pellacia.contract import PlatformContext, TokenSet
from pellacia.errors import AuthExpired, Transient
from pellacia.sdk.http import NETWORK_ERRORS

#: fields that are read into TokenSet's own attributes, or never kept
_KNOWN = frozenset(
    {
        "access_token", "refresh_token", "expires_in", "expires_at", "refresh_expires_in",
        "refresh_token_expires_in", "refresh_expires_at", "scope", "scopes", "token_type",
        "id_token", "error", "error_description",
    }
)  # fmt: skip


def _seconds(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _moment(value: Any, now: datetime) -> datetime | None:
    """An absolute time from ISO 8601 text or epoch seconds."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz=UTC)
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=now.tzinfo or UTC)


def _scopes(data: Mapping[str, Any]) -> tuple[str, ...]:
    raw = data.get("scopes", data.get("scope"))
    if isinstance(raw, str):
        return tuple(s for s in raw.replace(",", " ").split() if s)
    if isinstance(raw, list | tuple):
        return tuple(str(s) for s in raw if s)
    return ()


def parse_token_response(
    data: Mapping[str, Any],
    *,
    now: datetime,
    previous: TokenSet | None = None,
    default_expires_in: float | None = None,
) -> TokenSet:
    """A ``TokenSet`` from a token endpoint's JSON answer (see the module docstring).

    Raises ``ValueError`` when there is no access token.
    """
    access = data.get("access_token")
    if not access or not isinstance(access, str):
        raise ValueError("the token answer has no access_token")
    expires_in = _seconds(data.get("expires_in"))
    if expires_in is None:
        expires_in = default_expires_in
    expires_at = _moment(data.get("expires_at"), now) or (
        now + timedelta(seconds=expires_in) if expires_in is not None else None
    )
    refresh_in = _seconds(data.get("refresh_expires_in", data.get("refresh_token_expires_in")))
    refresh_at = _moment(data.get("refresh_expires_at"), now) or (
        now + timedelta(seconds=refresh_in) if refresh_in is not None else None
    )
    refresh = data.get("refresh_token") or None
    extra = {k: v for k, v in data.items() if k not in _KNOWN}
    if previous is not None:
        refresh = refresh or previous.refresh_token  # not rotated: keep the old one
        refresh_at = refresh_at or (
            previous.refresh_expires_at if not data.get("refresh_token") else None
        )
        extra = {**previous.extra, **extra}
    return TokenSet(
        access_token=access,
        refresh_token=str(refresh) if refresh else None,
        expires_at=expires_at,
        refresh_expires_at=refresh_at,
        scopes=_scopes(data) or (previous.scopes if previous else ()),
        extra=extra,
    )


@dataclass(frozen=True)
class TokenEndpoint:
    """A platform's OAuth token endpoint (``url`` is the real one; the sandbox's
    fake is used when the context says so)."""

    base_url: str
    path: str
    display_name: str
    default_expires_in: float | None = None

    async def post(
        self,
        ctx: PlatformContext,
        form: Mapping[str, str],
        *,
        what: str,
        previous: TokenSet | None = None,
        refused_hint: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> TokenSet:
        """POST ``form`` (with ``headers``: HTTP Basic client authentication, ...);
        the tokens, or the typed error (``refused_hint`` follows a refusal)."""
        url = f"{ctx.endpoint(self.base_url)}{self.path}"
        name = self.display_name
        try:
            async with ctx.http.post(
                url, data=dict(form), headers=dict(headers or {}), allow_redirects=False
            ) as resp:
                status = resp.status
                body = await resp.read()
        except NETWORK_ERRORS as exc:
            raise Transient(
                f"{name} {what}: network error ({type(exc).__name__})",
                platform=ctx.platform,
                network=True,
            ) from None
        data = _json_object(body)
        error = data.get("error")
        code = str(error.get("code") if isinstance(error, dict) else error or "")
        if status == 200 and code in ("", "ok"):
            try:
                return parse_token_response(
                    data, now=ctx.clock.now(), previous=previous,
                    default_expires_in=self.default_expires_in,
                )  # fmt: skip
            except ValueError:
                raise Transient(
                    f"{name} {what}: the answer has no access token", platform=ctx.platform
                ) from None
        if status == 429 or status >= 500:
            raise Transient(f"{name} {what}: HTTP {status} {code}".rstrip(), platform=ctx.platform)
        # refused: revoked, expired, rotated away, wrong client. Only the code is quoted.
        log_id = data.get("log_id") or (error.get("log_id") if isinstance(error, dict) else None)
        text = f"{name} {what} refused: {code or f'HTTP {status}'}"
        if log_id:
            text += f" (log_id {log_id})"
        if code in ("invalid_client", "unauthorized_client"):
            text += "; check the OAuth client id and secret in the config"
        elif refused_hint:
            text += f". {refused_hint}"
        raise AuthExpired(text, platform=ctx.platform)


def _json_object(body: bytes) -> dict[str, Any]:
    import json

    try:
        data = json.loads(body or b"null")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
