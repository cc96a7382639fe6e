"""A provider's ``wg-quick`` file, split into what ``wg setconf`` takes and the rest.

``wg setconf`` refuses the wg-quick-only keys (Address, DNS, MTU, Table, the
hooks, SaveConfig); we apply Address, DNS and MTU ourselves inside the route's
namespace and never run the file's PreUp/PostUp commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pellacia.errors import ConfigError

WG_QUICK_ONLY = {
    "address",
    "dns",
    "mtu",
    "table",
    "preup",
    "postup",
    "predown",
    "postdown",
    "saveconfig",
}
DEFAULT_MTU = 1420


@dataclass(frozen=True)
class WgConfig:
    wg_text: str = field(repr=False)  # holds the private key
    addresses: tuple[str, ...]
    dns: tuple[str, ...]
    mtu: int = DEFAULT_MTU


def parse_wg_quick(text: str) -> WgConfig:
    """Split a wg-quick file; ``ConfigError`` when it lacks what a tunnel needs."""
    kept: list[str] = []
    addresses: list[str] = []
    dns: list[str] = []
    mtu = DEFAULT_MTU
    section = ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("["):
            section = line.lower()
            kept.append(line)
            continue
        key, _, value = (part.strip() for part in line.partition("="))
        if section == "[interface]" and key.lower() in WG_QUICK_ONLY:
            values = [v.strip() for v in value.split(",") if v.strip()]
            if key.lower() == "address":
                addresses += values
            elif key.lower() == "dns":
                dns += [v for v in values if _is_ip(v)]
            elif key.lower() == "mtu":
                mtu = int(value)
            continue
        if line:
            kept.append(line)
    missing = [
        what
        for what, present in (
            ("[Interface] PrivateKey", any(k.lower().startswith("privatekey") for k in kept)),
            ("[Interface] Address", bool(addresses)),
            ("[Peer] PublicKey", any(k.lower().startswith("publickey") for k in kept)),
            ("[Peer] Endpoint", any(k.lower().startswith("endpoint") for k in kept)),
        )
        if not present
    ]
    if missing:
        raise ConfigError(f"the WireGuard file lacks {', '.join(missing)}")
    return WgConfig("\n".join(kept) + "\n", tuple(addresses), tuple(dns), mtu)


def _is_ip(value: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
