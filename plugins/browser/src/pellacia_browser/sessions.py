"""Browser sessions: one persistent Chromium profile per (platform, account).

A profile is Chromium's user-data directory (0700: it holds the login
cookies). Beside Chromium's own files it keeps ``pellacia-session.json``:
whether the last visit found the session logged in, when it was last used
and checked, and the times of the posts made through it (for the browser
posting cap). Cookies are never read back out of a profile, logged or copied
into a manual package.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pellacia.errors import ConfigError

from pellacia_browser.launcher import profile_dir

if TYPE_CHECKING:
    from pellacia_browser.launcher import BrowserSettings

META_FILE = "pellacia-session.json"
#: how long an imported cookie without an expiry is kept
SESSION_COOKIE_LIFE = timedelta(days=30)


@dataclass
class SessionInfo:
    """What pellacia-dist remembers about one profile (never its cookies)."""

    platform: str
    account: str
    logged_in: bool | None = None  # None: never checked
    last_used: str | None = None
    last_checked: str | None = None
    imported: str | None = None
    posts: list[str] = field(default_factory=list)  # ISO times of browser posts

    def post_times(self) -> list[datetime]:
        return [datetime.fromisoformat(p) for p in self.posts]


class Profiles:
    """The profiles under ``root`` (``<data dir>/browser/profiles`` by default)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, platform: str, account: str) -> Path:
        """The account's profile directory, created 0700 (parents too)."""
        path = profile_dir(self.root, platform, account)
        from pellacia.private_files import private_dir

        private_dir(path)
        for part in (self.root, path.parent, path):
            os.chmod(part, 0o700)
        return path

    def read(self, platform: str, account: str) -> SessionInfo:
        meta = profile_dir(self.root, platform, account) / META_FILE
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return SessionInfo(platform, account)
        known = {k: v for k, v in data.items() if k in SessionInfo.__dataclass_fields__}
        return SessionInfo(**{**known, "platform": platform, "account": account})

    def write(self, info: SessionInfo) -> None:
        meta = self.path(info.platform, info.account) / META_FILE
        tmp = meta.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(info), indent=2), encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(meta)

    def note(self, platform: str, account: str, **changes: Any) -> SessionInfo:
        """Update the remembered facts (``logged_in=``, ``post_at=``...) and save."""
        info = self.read(platform, account)
        now = datetime.now(UTC).isoformat()
        if "logged_in" in changes:
            info.logged_in = changes["logged_in"]
            info.last_checked = now
        if changes.get("used"):
            info.last_used = now
        if changes.get("imported"):
            info.imported = now
        post_at = changes.get("post_at")
        if isinstance(post_at, datetime):
            info.posts = [*info.posts[-49:], post_at.isoformat()]
        self.write(info)
        return info

    def all(self) -> Iterator[SessionInfo]:
        """Every profile that exists, sorted by platform and account."""
        if not self.root.is_dir():
            return
        for platform in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for account in sorted(a for a in platform.iterdir() if a.is_dir()):
                yield self.read(platform.name, account.name)


def login_command(platform: str, account: str) -> str:
    """What a person runs to sign the profile in again."""
    return f"pellacia-dist browser login {platform} --account {account}"


# ------------------------------------------------------------------ import


async def import_cookies(
    settings: BrowserSettings, platform: str, account: str, cookies: list[dict[str, Any]]
) -> None:
    """Put ``cookies`` into the account's profile (as if a person had signed in there)."""
    from pellacia_browser.launcher import launch_browser

    # a cookie without an expiry would die with this browser: keep it like a login does
    until = (datetime.now(UTC) + SESSION_COOKIE_LIFE).timestamp()
    lasting = [c if c.get("expires", -1) > 0 else {**c, "expires": until} for c in cookies]
    async with launch_browser(settings, profile=(platform, account)) as browser:
        await browser.context.add_cookies(lasting)  # type: ignore[arg-type]
    Profiles(settings.profile_root()).note(platform, account, imported=True)


def read_cookies(path: Path) -> list[dict[str, Any]]:
    """Playwright cookies from a Netscape ``cookies.txt`` or a storage ``state.json``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path.name}: {exc.strerror}") from None
    if path.suffix == ".json" or text.lstrip().startswith("{"):
        return _state_cookies(text, path.name)
    return _netscape_cookies(text, path.name)


def _state_cookies(text: str, name: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except ValueError:
        raise ConfigError(f"{name} is not JSON (expected a Playwright storage state)") from None
    cookies = data.get("cookies") if isinstance(data, dict) else None
    if not isinstance(cookies, list) or not cookies:
        raise ConfigError(f"{name} has no cookies")
    keep = ("name", "value", "domain", "path", "expires", "httpOnly", "secure", "sameSite")
    return [{k: c[k] for k in keep if k in c} for c in cookies if isinstance(c, dict)]


def _netscape_cookies(text: str, name: str) -> list[dict[str, Any]]:
    cookies: list[dict[str, Any]] = []
    for line in text.splitlines():
        http_only = line.startswith("#HttpOnly_")
        if http_only:
            line = line[len("#HttpOnly_") :]
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 7:
            raise ConfigError(f"{name} is not a Netscape cookies.txt (7 tab-separated fields)")
        domain, _, path, secure, expires, key, value = parts
        cookie: dict[str, Any] = {
            "name": key,
            "value": value,
            "domain": domain,
            "path": path or "/",
            "secure": secure.upper() == "TRUE",
            "httpOnly": http_only,
        }
        if expires.isdigit() and int(expires) > 0:
            cookie["expires"] = float(expires)
        cookies.append(cookie)
    if not cookies:
        raise ConfigError(f"{name} has no cookies")
    return cookies
