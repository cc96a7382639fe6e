"""Errors as problem+json (RFC 9457), with the messages the CLI prints."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from pellacia.delivery.errors import BadInput, NotFound
from pellacia.errors import ConfigError

MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


class ApiError(Exception):
    """An error with its HTTP status, raised by the API's own checks."""

    def __init__(
        self, status: int, title: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail, errors=errors)
    return JSONResponse(
        body.model_dump(exclude_none=True), status, headers=headers, media_type=MEDIA_TYPE
    )


#: what every route may answer besides its success (declared for the OpenAPI spec)
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {MEDIA_TYPE: {}}, "description": text}
    for code, text in {
        400: "Bad input (nothing was written)",
        401: "No or unknown API key",
        403: "The key lacks the scope",
        404: "Not found",
        413: "Request body too large",
        422: "Request does not match the schema",
        429: "Rate limited (see Retry-After)",
        503: "The database is unavailable (see Retry-After)",
    }.items()
}


def install(app: FastAPI) -> None:
    """Map service exceptions to problem responses."""

    async def bad_input(_: Request, exc: Exception) -> JSONResponse:
        return problem(400, "Bad input", str(exc))

    async def not_found(_: Request, exc: Exception) -> JSONResponse:
        return problem(404, "Not found", str(exc))

    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return problem(exc.status, exc.title, exc.detail, headers=exc.headers)

    async def invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)
        return problem(422, "Request does not match the schema", detail, errors=errors)

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers) if exc.headers else None
        return problem(exc.status_code, str(exc.detail), headers=headers)

    async def not_storable(_: Request, exc: Exception) -> JSONResponse:
        # PostgreSQL text holds no NUL character: such input is bad input, not a 500
        return problem(400, "Bad input", "text may not contain NUL (\\x00) characters")

    async def database_away(_: Request, exc: Exception) -> JSONResponse:
        from pellacia.store.pool import database_health, is_unavailable

        if not is_unavailable(exc):
            raise exc  # a bug, not an outage: the server's 500 and its traceback
        database_health().lost(exc, where="api")
        return problem(
            503,
            "Database unavailable",
            "the database cannot be reached just now; try again shortly "
            "(a create with the same Idempotency-Key, so it is made once)",
            headers={"Retry-After": "5"},
        )

    import asyncpg
    from asyncpg.exceptions import CharacterNotInRepertoireError, UntranslatableCharacterError

    from pellacia.store.pool import DatabaseUnavailable

    for away in (
        DatabaseUnavailable,
        asyncpg.PostgresConnectionError,
        asyncpg.OperatorInterventionError,
        asyncpg.InsufficientResourcesError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
    ):
        app.add_exception_handler(away, database_away)
    app.add_exception_handler(CharacterNotInRepertoireError, not_storable)
    app.add_exception_handler(UntranslatableCharacterError, not_storable)
    app.add_exception_handler(BadInput, bad_input)
    app.add_exception_handler(ConfigError, bad_input)
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
