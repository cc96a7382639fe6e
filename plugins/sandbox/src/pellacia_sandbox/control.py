"""Async Python client of the sandbox control API (``/_control/``), for tests and the kit."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import aiohttp


class SandboxControlError(RuntimeError):
    """The control API refused a request (the message is its error text)."""


class SandboxControl:
    """``await SandboxControl(base_url).add_fault("tiktok", "rate_limit", retry_after=30)``.

    Pass ``session`` to reuse one of yours; otherwise each call uses a short-lived one.
    """

    def __init__(self, base_url: str, *, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session

    async def _call(self, method: str, path: str, json: Any = None) -> Any:
        # Without a session of the caller's, each call opens its own: the client
        # then works from any event loop (tests with per-test loops share it).
        if self._session is not None:
            return await self._request(self._session, method, path, json)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            return await self._request(http, method, path, json)

    async def _request(self, http: aiohttp.ClientSession, method: str, path: str, json: Any) -> Any:
        async with http.request(method, f"{self.base_url}/_control{path}", json=json) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 400:
                message = data.get("error") if isinstance(data, dict) else data
                raise SandboxControlError(f"{method} /_control{path}: {resp.status} {message}")
            return data

    async def close(self) -> None:
        """Nothing to release: a session passed in belongs to the caller."""

    async def __aenter__(self) -> SandboxControl:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def status(self) -> dict[str, Any]:
        """Fakes loaded (name -> base URL), fakes skipped, clock, fault count."""
        result: dict[str, Any] = await self._call("GET", "/status")
        return result

    async def add_fault(
        self,
        platform: str | None,
        kind: str,
        *,
        method: str | None = None,
        path: str | None = None,
        times: int | None = 1,
        skip: int = 0,
        **params: Any,
    ) -> int:
        """Add a fault rule; returns its id.

        ``params`` go with the kind: retry_after, after_bytes, seconds, status, body...
        """
        spec = {
            "platform": platform,
            "kind": kind,
            "method": method,
            "path": path,
            "times": times,
            "skip": skip,
            **params,
        }
        result = await self._call("POST", "/faults", spec)
        return int(result["id"])

    async def faults(self) -> list[dict[str, Any]]:
        """The active rules with ``remaining`` and ``hits`` counts."""
        result = await self._call("GET", "/faults")
        faults: list[dict[str, Any]] = result["faults"]
        return faults

    async def remove_fault(self, fault_id: int) -> None:
        await self._call("DELETE", f"/faults/{fault_id}")

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/faults")

    async def state(self, platform: str) -> dict[str, Any]:
        """The fake's snapshot: posts, uploads, and the request log ``requests``."""
        result: dict[str, Any] = await self._call("GET", f"/{platform}/state")
        return result

    async def expire_tokens(self, platform: str) -> None:
        await self._call("POST", f"/{platform}/expire-tokens")

    async def reset(self, platform: str | None = None) -> None:
        """Reset one fake, or every fake and the fault rules."""
        await self._call("POST", f"/{platform}/reset" if platform else "/reset")

    async def advance_clock(self, seconds: float) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/clock/advance", {"seconds": seconds})
        return result
