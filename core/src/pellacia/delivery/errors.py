"""Errors of the delivery services that the CLI maps to exit codes."""

from __future__ import annotations

from pellacia.errors import PellaciaError


class BadInput(PellaciaError):
    """The request cannot be accepted as given; nothing was written (exit code 2)."""


class NotFound(PellaciaError):
    """No post or delivery with that id."""
