"""The ``sandbox`` fixture: one sandbox host for the test session, on 127.0.0.1.

The host runs on its own event loop in a background thread, so tests on any
event loop (session- or function-scoped) reach it over HTTP. The sandbox is a
separate distribution (``pellacia-dist-sandbox``): it is imported only when
the fixture is used, and the test is skipped with the reason when it is absent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pellacia.contract import Platform
from pellacia.testing.sessions import MemoryUploadSession


@dataclass
class SandboxHandle:
    """What the ``sandbox`` fixture yields."""

    base_url: str
    #: ``pellacia_sandbox.control.SandboxControl`` bound to ``base_url``
    control: Any
    #: the ``SandboxHost`` itself (lives on another thread: prefer ``control``)
    host: Any

    def fakes(self) -> list[str]:
        """Names of the fakes this sandbox serves."""
        return sorted(self.host.fakes)

    def require(self, platform: str) -> None:
        """Skip the test when the sandbox has no fake of ``platform``."""
        if platform not in self.host.fakes:
            reason = self.host.skipped.get(
                platform,
                "none is installed (the sandbox has its own fakes; a plugin's comes from the "
                "distribution that registers it with register_fakes: install that)",
            )
            pytest.skip(f"the sandbox has no {platform} fake: {reason}")


def import_sandbox() -> tuple[Any, Any]:
    """``(ThreadedSandbox, SandboxControl)``, or skip the test naming what to install."""
    try:
        from pellacia_sandbox.control import SandboxControl
        from pellacia_sandbox.thread import ThreadedSandbox
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("pellacia_sandbox"):
            pytest.skip(
                "the sandbox is not installed: pip install pellacia-dist-sandbox "
                "(the conformance kit runs plugins against its fakes)"
            )
        raise
    return ThreadedSandbox, SandboxControl


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxHandle]:
    """A running sandbox with every available fake, for the whole test session:
    the sandbox's own and those installed plugins register (``register_fakes``)."""
    threaded_sandbox, sandbox_control = import_sandbox()
    runner = threaded_sandbox(port=0)
    host = runner.start()
    try:
        yield SandboxHandle(
            base_url=host.base_url, control=sandbox_control(host.base_url), host=host
        )
    finally:
        runner.stop()


@pytest.fixture
def memory_upload_session() -> type[MemoryUploadSession]:
    """Factory of in-memory upload sessions: ``memory_upload_session(resume_state=None)``."""
    return MemoryUploadSession


@pytest.fixture
def sandbox_context(sandbox: SandboxHandle) -> Callable[..., Any]:
    """Factory: ``async with sandbox_context("tiktok", settings={...}) as kit:`` gives a
    ``KitContext`` (platform, ctx, tokens, client) signed in to the platform's fake,
    through the flow the platform declares. Keyword arguments: ``account``,
    ``settings``, ``credentials``, ``base_url``, ``client``, ``clock`` (see
    ``pellacia.testing.context.open_platform_context``)."""
    from pellacia.testing.context import open_platform_context

    def factory(platform: str | Platform, **kwargs: Any) -> Any:
        if isinstance(platform, str):
            from pellacia.plugins import get_registry

            sandbox.require(platform)
            platform = get_registry().platform(platform)
        else:
            sandbox.require(platform.name)
        kwargs.setdefault("clock", sandbox.host.clock)  # the client's time is the fake's
        return open_platform_context(platform, sandbox.base_url, **kwargs)

    return factory
