"""Hooks of the PeerTube fake: it joins the sandbox, nothing else."""

from __future__ import annotations

from collections.abc import Callable

from pellacia.hookspecs import hookimpl

#: the plugin contract this module was written for; core refuses a mismatch
PLUGIN_API_VERSION = 1


@hookimpl
def register_fakes(register: Callable[[str, str], None]) -> None:
    # a name and "module:Class": only the sandbox imports it, when it starts
    register("peertube", "pellacia_peertube_fake.fake:PeerTubeFake")
