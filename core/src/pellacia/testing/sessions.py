"""An in-memory ``UploadSession``: what core gives a plugin during an upload."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

OnSave = Callable[[Mapping[str, Any]], Awaitable[None]]


class MemoryUploadSession:
    """Records every saved resume state and progress call.

    ``save_state`` checks the state is JSON (core stores it in the database)
    and then awaits ``on_save``: tests use it to act between two chunks.
    ``resumed()`` is the session a retry gets: the last saved state as its
    ``resume_state``.
    """

    def __init__(
        self, resume_state: Mapping[str, Any] | None = None, *, on_save: OnSave | None = None
    ) -> None:
        self.resume_state: Mapping[str, Any] | None = resume_state
        self.saved: list[dict[str, Any]] = []
        self.progress_calls: list[tuple[int, int]] = []
        self.on_save = on_save

    async def save_state(self, state: Mapping[str, Any]) -> None:
        try:
            stored = json.loads(json.dumps(dict(state)))
        except (TypeError, ValueError) as exc:
            raise AssertionError(f"resume state must be JSON-serialisable: {exc}") from None
        self.saved.append(stored)
        if self.on_save is not None:
            await self.on_save(stored)

    def progress(self, sent: int, total: int) -> None:
        self.progress_calls.append((sent, total))

    @property
    def last_state(self) -> dict[str, Any] | None:
        """The state saved last, or None."""
        return self.saved[-1] if self.saved else None

    def resumed(self, *, on_save: OnSave | None = None) -> MemoryUploadSession:
        """A new session resuming from the last saved state (what a retry gets)."""
        return MemoryUploadSession(self.last_state or self.resume_state, on_save=on_save)
