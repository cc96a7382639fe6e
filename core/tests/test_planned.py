"""PlannedPlatform and its conformance check (the check must be able to fail)."""

from __future__ import annotations

import pytest
from pellacia.contract import UploadReceipt
from pellacia.planned import PlannedPlatform
from pellacia.testing.planned import assert_every_operation_unsupported
from pellacia.testing.videos import media_info


class Soon(PlannedPlatform):
    name = "soon"
    display_name = "Soon"
    distribution = "pellacia-dist-soon 0.1"
    scopes = ("post",)


class FakesSuccess(Soon):
    async def upload(self, request, session, ctx):  # type: ignore[no-untyped-def]
        return UploadReceipt(remote_id="pretend")


async def test_planned_platform_refuses_everything_with_its_reason() -> None:
    platform = Soon()
    assert platform.auth.scopes == ("post",)
    await assert_every_operation_unsupported(platform, "pellacia-dist-soon 0.1", media_info())


async def test_the_check_catches_a_fake_success() -> None:
    with pytest.raises(AssertionError, match="expected Unsupported"):
        await assert_every_operation_unsupported(
            FakesSuccess(), "pellacia-dist-soon 0.1", media_info()
        )


async def test_the_check_catches_a_wrong_distribution_name() -> None:
    with pytest.raises(AssertionError, match="pellacia-dist-other"):
        await assert_every_operation_unsupported(Soon(), "pellacia-dist-other", media_info())
