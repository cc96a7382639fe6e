"""pytest plugin shipped with core: fixtures for PostgreSQL, the sandbox,
generated videos, and the platform conformance kit."""

from __future__ import annotations

from pellacia.testing.postgres import pg_admin_dsn, pg_dsn

# The sandbox itself (pellacia_sandbox) is imported only inside these fixtures.
from pellacia.testing.sandbox import memory_upload_session, sandbox, sandbox_context

__all__ = [
    "memory_upload_session",
    "pg_admin_dsn",
    "pg_dsn",
    "sandbox",
    "sandbox_context",
]
