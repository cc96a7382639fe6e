"""Run a ``SandboxHost`` on its own event loop in a background thread.

Test fixtures use it so one sandbox serves a whole session whatever event loop
each test runs on; everything talks to it over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any

from pellacia_sandbox.host import SandboxHost


class ThreadedSandbox:
    """``with ThreadedSandbox(port=0) as host: host.base_url``. Keyword arguments go to the host."""

    def __init__(self, *, start_timeout: float = 30.0, **host_kwargs: Any) -> None:
        self.host = SandboxHost(**host_kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="pellacia-sandbox", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._start_timeout = start_timeout

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.host.start())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            self._loop.close()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self.host.stop())
            self._loop.close()

    @property
    def base_url(self) -> str:
        return self.host.base_url

    def start(self) -> SandboxHost:
        """Start the thread and wait until the host listens."""
        self._thread.start()
        if not self._ready.wait(self._start_timeout):
            raise TimeoutError("the sandbox did not start in time")
        if self._error is not None:
            raise self._error
        return self.host

    def _on_loop(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` on the sandbox's loop and wait for it."""
        if not self._thread.is_alive():
            coro.close()
            raise RuntimeError("the sandbox thread is not running")
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(self._start_timeout)

    def go_down(self) -> None:
        """Stop listening and drop every connection, as a platform's outage does.

        The fakes keep what they hold; ``come_up`` serves it again on the same port.
        """
        self._on_loop(self.host.stop())

    def come_up(self) -> None:
        """Listen again on the same port after ``go_down``, with the same fakes."""
        self._on_loop(self.host.start())

    def stop(self) -> None:
        """Stop the host and the thread (waits for both)."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    def __enter__(self) -> SandboxHost:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
