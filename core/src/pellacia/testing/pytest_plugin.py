"""pytest plugin shipped with core: fixtures for PostgreSQL, the sandbox,
generated videos, and the platform conformance kit."""

from __future__ import annotations

from pellacia.testing.postgres import pg_admin_dsn, pg_dsn

__all__ = ["pg_admin_dsn", "pg_dsn"]
