"""``vpn import``: check a provider's file, copy it (0600) and seal its credentials.

The file is copied unedited; what we must override is passed on openvpn's
command line (see :mod:`pellacia_vpn.tunnel`). Checks:

- OpenVPN: a ``remote``; ``auth-user-pass`` needs ``--username``; a
  ``cipher`` OpenVPN 2.6 no longer negotiates by default (VPN Gate's
  ``AES-128-CBC``) is reported with the fix, which is recorded in the route
  (``--data-ciphers`` with that cipher added); script hooks (``up``,
  ``route-up``, ``tls-verify``, ...) are refused: they would run as root.
- WireGuard: PrivateKey, Address, a peer's PublicKey and Endpoint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pellacia.errors import ConfigError

from pellacia_vpn.sealed import seal_credentials
from pellacia_vpn.tunnel import Credentials
from pellacia_vpn.wgconf import parse_wg_quick

# what OpenVPN 2.6 negotiates when the file and the command line say nothing
DEFAULT_DATA_CIPHERS = ("AES-256-GCM", "AES-128-GCM", "CHACHA20-POLY1305")
SCRIPT_OPTIONS = {
    "up",
    "down",
    "route-up",
    "route-pre-down",
    "ipchange",
    "tls-verify",
    "learn-address",
    "client-connect",
    "client-disconnect",
    "auth-user-pass-verify",
    "plugin",
}
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,30}$")


@dataclass
class Imported:
    name: str
    kind: Literal["openvpn", "wireguard"]
    path: Path
    notes: list[str] = field(default_factory=list)  # what was found and fixed


def detect_kind(text: str) -> Literal["openvpn", "wireguard"]:
    return "wireguard" if re.search(r"^\s*\[Interface\]", text, re.M | re.I) else "openvpn"


def check_openvpn(text: str, username: str | None) -> tuple[list[str], list[str]]:
    """Problems (refuse the file) and the openvpn arguments that fix the rest, with notes."""
    directives = _directives(text)
    problems: list[str] = []
    if "remote" not in directives:
        problems.append("the file has no 'remote' line (which server to connect to)")
    scripts = sorted(SCRIPT_OPTIONS & directives.keys())
    if scripts:
        problems.append(
            f"the file runs scripts ({', '.join(scripts)}), which would run as root: remove those lines"
        )
    if "auth-user-pass" in directives and not username and not any(directives["auth-user-pass"]):
        problems.append("the server asks for a user name and password: pass --username")
    args: list[str] = []
    negotiable = set(DEFAULT_DATA_CIPHERS)
    for name in ("data-ciphers", "ncp-ciphers"):
        if name in directives:
            negotiable = {c.upper() for c in directives[name][0].split(":")}
    cipher = (directives.get("cipher") or [""])[0].upper()
    if cipher and cipher not in negotiable and cipher != "NONE":
        problems_fix = ":".join([*DEFAULT_DATA_CIPHERS, cipher])
        args = ["--data-ciphers", problems_fix, "--data-ciphers-fallback", cipher]
    return problems, args


def _directives(text: str) -> dict[str, list[str]]:
    """Each directive of an .ovpn (outside inline <blocks>) and its argument line."""
    found: dict[str, list[str]] = {}
    block: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if block:
            block = None if line.lower() == f"</{block}>" else block
            continue
        if line.startswith("<") and line.endswith(">") and not line.startswith("</"):
            block = line[1:-1].lower()
            continue
        if not line or line[0] in "#;":
            continue
        key, _, rest = line.partition(" ")
        found.setdefault(key.lower(), []).append(rest.strip())
    return found


def import_route(
    source: Path,
    *,
    name: str,
    data_dir: Path,
    routes_dir: Path,
    platforms: list[str],
    credentials: Credentials | None,
) -> Imported:
    """Check ``source`` and install it as route ``name``; ``ConfigError`` when it cannot work."""
    if not NAME.match(name):
        raise ConfigError(
            "a route name is 1-31 lower-case letters, digits, '-' or '_' (it names a namespace)"
        )
    try:
        text = source.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {source.name}: {exc}") from None
    kind = detect_kind(text)
    notes: list[str] = []
    args: list[str] = []
    if kind == "openvpn":
        problems, args = check_openvpn(text, credentials.username if credentials else None)
        if problems:
            raise ConfigError(f"{source.name}: " + "; ".join(problems))
        if args:
            notes.append(
                f"the file asks for cipher {args[-1]}, which OpenVPN 2.6 refuses by default; "
                f"the route passes {' '.join(args)} (the server is old: prefer another one)"
            )
    else:
        parse_wg_quick(text)
        if re.search(r"^\s*(Pre|Post)(Up|Down)\s*=", text, re.M | re.I):
            notes.append("the file's PreUp/PostUp/PreDown/PostDown commands are ignored")
    from pellacia.private_files import private_dir

    private_dir(routes_dir)
    target = routes_dir / f"{name}{'.ovpn' if kind == 'openvpn' else '.conf'}"
    _copy_private(source, target)
    if credentials is not None:
        seal_credentials(data_dir, name, credentials, target.with_suffix(".auth"))
    meta = {
        "kind": kind,
        "config_file": str(target),
        "platforms": platforms,
        "username": credentials.username if credentials else None,
        "openvpn_args": args,
    }
    (routes_dir / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return Imported(name, kind, target, notes)


def _copy_private(source: Path, target: Path) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out, source.open("rb") as src:
        shutil.copyfileobj(src, out)
    target.chmod(0o600)
