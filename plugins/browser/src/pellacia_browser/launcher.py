"""Launch the system's Chromium through Playwright, the pellacia-dist way.

- The browser is Debian's Chromium (``chromium_path``; default ``chromium``
  on the PATH, then /usr/bin/chromium). pellacia-dist never downloads one.
- Headless, with the quiet flags below; ``--no-sandbox`` only when running
  as root (Chromium refuses to start otherwise).
- The proxy comes from the fallback route (``RouteHandle.proxy``).
- With a ``profile`` (platform, account) the browser keeps a persistent
  profile under the data directory, so a login survives restarts.

Playwright is imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from pellacia.errors import ConfigError, Transient, Unsupported

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext

QUIET_FLAGS: tuple[str, ...] = (
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
#: on a VPN/proxy route: WebRTC may not leak the real address (vpn-netns.md §5);
#: QUIC is off already, and DNS is resolved by the proxy for http(s) URLs
PROXY_FLAGS: tuple[str, ...] = ("--force-webrtc-ip-handling-policy=disable_non_proxied_udp",)
FALLBACK_CHROMIUM = "/usr/bin/chromium"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class BrowserSettings:
    """The ``[plugins.browser]`` section."""

    chromium_path: str | None = None
    headless: bool = True
    #: where persistent profiles live; default ``<data dir>/browser/profiles``
    profiles_dir: Path | None = None
    #: default time limit of page actions, milliseconds
    timeout_ms: float = 30_000
    extra_args: tuple[str, ...] = ()

    @classmethod
    def from_section(cls, section: Mapping[str, Any] | None) -> BrowserSettings:
        section = section or {}
        profiles = section.get("profiles_dir")
        return cls(
            chromium_path=section.get("chromium_path") or None,
            headless=bool(section.get("headless", True)),
            profiles_dir=Path(profiles).expanduser() if profiles else None,
            timeout_ms=float(section.get("timeout_ms", 30_000)),
            extra_args=tuple(section.get("extra_args", ())),
        )

    def profile_root(self) -> Path:
        """``profiles_dir``, else ``<data dir>/browser/profiles`` (``PELLACIA_DATA_DIR`` honoured)."""
        if self.profiles_dir is not None:
            return self.profiles_dir
        from pellacia.config import load_settings

        return load_settings().data_dir / "browser" / "profiles"


@dataclass
class BrowserSession:
    """An open browser: its context (pages share cookies), version and profile."""

    context: BrowserContext
    version: str
    profile_dir: Path | None = None
    executable: str = field(default="", repr=False)

    async def new_page(self) -> Any:
        return await self.context.new_page()


def find_chromium(configured: str | None = None) -> str:
    """The Chromium executable to use, or ``ConfigError`` saying how to get one."""
    if configured:
        path = shutil.which(configured) or configured
        if not Path(path).is_file():
            raise ConfigError(
                f"chromium_path {configured} does not exist; install Chromium "
                "(apt-get install chromium) or fix [plugins.browser] chromium_path"
            )
        return path
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if Path(FALLBACK_CHROMIUM).is_file():
        return FALLBACK_CHROMIUM
    raise ConfigError(
        "Chromium is not installed: apt-get install chromium (pellacia-dist never "
        "downloads a browser), or set [plugins.browser] chromium_path"
    )


def launch_args(extra: tuple[str, ...] = (), *, proxied: bool = False) -> list[str]:
    """Chromium's command-line flags; ``proxied``: no WebRTC UDP around the proxy."""
    args = list(QUIET_FLAGS)
    if proxied:
        args.extend(PROXY_FLAGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    args.extend(extra)
    return args


def playwright_proxy(proxy: str | None, bypass: str | None = None) -> dict[str, str] | None:
    """Playwright's ``proxy`` option from a route's proxy URL."""
    if not proxy:
        return None
    parts = urlsplit(proxy)
    if parts.scheme.startswith("socks") and parts.username:
        raise Unsupported(
            "Chromium cannot authenticate to a SOCKS proxy; give the browser layers an "
            "http:// proxy route"
        )
    server = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    option = {"server": server}
    if parts.username:
        option["username"] = unquote(parts.username)
        option["password"] = unquote(parts.password or "")
    if bypass:
        option["bypass"] = bypass
    return option


def profile_dir(root: Path, platform: str, account: str) -> Path:
    """``root/<platform>/<account>``, each part made filesystem-safe."""
    safe = [_SAFE_NAME.sub("_", part).strip("._") or "_" for part in (platform, account)]
    return root.joinpath(*safe)


@asynccontextmanager
async def launch_browser(
    settings: BrowserSettings | Mapping[str, Any] | None = None,
    *,
    proxy: str | None = None,
    profile: tuple[str, str] | None = None,
    proxy_bypass: str | None = None,
) -> AsyncIterator[BrowserSession]:
    """``async with launch_browser(settings) as browser``: Chromium for one job.

    ``proxy`` is the route's proxy URL; ``profile`` (platform, account)
    selects a persistent profile; ``proxy_bypass`` is Chromium's bypass list
    (tests pass ``<-loopback>`` to send 127.0.0.1 through the proxy too).
    """
    if not isinstance(settings, BrowserSettings):
        settings = BrowserSettings.from_section(settings)
    executable = find_chromium(settings.chromium_path)
    proxy_option = playwright_proxy(proxy, proxy_bypass)
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    options: dict[str, Any] = {
        "executable_path": executable,
        "headless": settings.headless,
        "args": launch_args(settings.extra_args, proxied=proxy_option is not None),
    }
    if proxy_option is not None:
        options["proxy"] = proxy_option
    async with async_playwright() as playwright:
        chromium = playwright.chromium
        user_dir: Path | None = None
        try:
            if profile is not None:
                from pellacia_browser.sessions import Profiles

                user_dir = Profiles(settings.profile_root()).path(*profile)  # 0700
                context = await chromium.launch_persistent_context(str(user_dir), **options)
                version = context.browser.version if context.browser else "unknown"
                browser = None
            else:
                browser = await chromium.launch(**options)
                context = await browser.new_context()
                version = browser.version
        except PlaywrightError as exc:
            raise Transient(f"Chromium ({executable}) did not start: {_first_line(exc)}") from None
        context.set_default_timeout(settings.timeout_ms)
        try:
            yield BrowserSession(context, version, user_dir, executable)
        finally:
            await context.close()
            if browser is not None:
                await browser.close()


def _first_line(exc: BaseException) -> str:
    from pellacia.log import redact_text

    return redact_text(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
