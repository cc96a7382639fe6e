"""``PlatformContext.endpoint``: the sandbox, the account's own instance, or the
platform's one API; and ``base_url`` in an account's config."""

from __future__ import annotations

import pytest
from pellacia.clock import FakeClock
from pellacia.config import AccountSettings
from pellacia.contract import PlatformContext, TokenSet
from pellacia.errors import Rejected
from pellacia.tokens import StaticTokenSource
from pydantic import ValidationError


def context(**fields: object) -> PlatformContext:
    return PlatformContext(
        platform="peertube",
        account="newsroom",
        http=None,  # type: ignore[arg-type]  # endpoint() never touches it
        tokens=StaticTokenSource(TokenSet(access_token="t")),
        clock=FakeClock(),
        **fields,  # type: ignore[arg-type]
    )


def test_the_sandbox_wins_then_the_account_then_the_real_base() -> None:
    real = "https://api.example.test/"
    assert context().endpoint(real) == "https://api.example.test"
    instance = context(base_url="https://video.example.org/")
    assert instance.endpoint(real) == "https://video.example.org"
    assert instance.endpoint() == "https://video.example.org"
    sandboxed = context(base_url="https://video.example.org", sandbox_url="http://127.0.0.1:1/")
    assert sandboxed.endpoint() == "http://127.0.0.1:1/peertube"


def test_a_federated_account_without_its_instance_is_refused_with_the_fix() -> None:
    with pytest.raises(Rejected, match=r"set base_url under \[\[accounts.peertube\]\]"):
        context().endpoint()


def test_account_base_url_must_be_an_http_url() -> None:
    assert AccountSettings(base_url="https://video.example.org/").base_url == (
        "https://video.example.org"
    )
    for bad in ("video.example.org", "ftp://video.example.org", "https://"):
        with pytest.raises(ValidationError, match="base_url"):
            AccountSettings(base_url=bad)
