"""Expected failures as typed exceptions, turned into RFC 9457 problem details in one place."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class AppError(Exception):
    """A failure the client can act on: an HTTP status, a stable code and a human sentence."""

    status: int = 400
    code: str = "bad_request"
    # A few failures must keep what the transaction wrote (revoking a stolen token family).
    keep_changes: bool = False

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}
        self.extra = extra


class BadRequest(AppError):
    status, code = 400, "bad_request"


class NotAuthenticated(AppError):
    status, code = 401, "not_authenticated"

    def __init__(self, detail: str = "Sign in to do this.", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Forbidden(AppError):
    status, code = 403, "forbidden"


class NotFound(AppError):
    status, code = 404, "not_found"


class Conflict(AppError):
    status, code = 409, "conflict"


class Unprocessable(AppError):
    status, code = 422, "validation_failed"


class PayloadTooLarge(AppError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(AppError):
    status, code = 415, "unsupported_media_type"


class RateLimited(AppError):
    status, code = 429, "rate_limited"

    def __init__(self, retry_after: int, detail: str = "Too many requests; slow down.") -> None:
        retry_after = max(1, retry_after)
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


def problem_body(
    status: int, code: str, detail: str, instance: str, **extra: Any
) -> dict[str, Any]:
    """The one shape of every error this API answers with."""
    return {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": instance,
        **extra,
    }


def problem_response(
    request: Request,
    status: int,
    code: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = problem_body(status, code, detail, request.url.path, **extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:] or parts
    return ".".join(parts)


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem_response(request, exc.status, exc.code, exc.detail, exc.headers, **exc.extra)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": _field_path(err.get("loc", ())),
            "message": str(err.get("msg", "invalid")).removeprefix("Value error, "),
            "type": err.get("type", "value_error"),
        }
        for err in exc.errors()
    ]
    fields = ", ".join(sorted({e["field"] for e in errors})) or "request"
    return problem_response(
        request, 422, "validation_failed", f"Invalid value for: {fields}.", errors=errors
    )


_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, HTTPStatus(exc.status_code).name.lower())
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem_response(request, exc.status_code, code, detail, dict(exc.headers or {}))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(request, 500, "internal_error", "Something went wrong on our side.")


def install_error_handlers(app: FastAPI) -> None:
    install_problem_openapi(app)
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


class ProblemDetails(BaseModel):
    """An RFC 9457 problem, the body of every error response."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable, machine-readable reason, e.g. `username_taken`.")
    instance: str
    errors: list[dict[str, str]] | None = Field(
        None, description="With `validation_failed`: each failing `field`, `message`, `type`."
    )
    retry_after: int | None = Field(None, description="With `rate_limited`: seconds to wait.")


def _problem_response_doc(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
    }


def install_problem_openapi(app: FastAPI) -> None:
    """Make /openapi.json say what the API really answers on errors: problem details, not
    FastAPI's default validation body, and the 401/429 every API route can give."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["ProblemDetails"] = ProblemDetails.model_json_schema()
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = _problem_response_doc("Invalid input (validation_failed).")
                if not path.startswith("/api/"):
                    continue
                responses.setdefault("429", _problem_response_doc("Too many requests."))
                if operation.get("security"):
                    responses.setdefault(
                        "401", _problem_response_doc("Missing, expired or invalid access token.")
                    )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
