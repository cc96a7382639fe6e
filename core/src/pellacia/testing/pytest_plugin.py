"""pytest plugin shipped with core: fixtures for PostgreSQL, the sandbox,
generated videos, and the platform conformance kit."""

from __future__ import annotations
