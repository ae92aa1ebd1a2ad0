"""Errors on the wire in OpenAI's envelope, ``{"error": {"message", "type", "param", "code"}}``,
with the status its clients map to their exceptions (400 BadRequestError, 401
AuthenticationError, 404 NotFoundError, 413, 415, 429 RateLimitError, 503 while loading)."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
          405: "invalid_request_error", 408: "invalid_request_error", 413: "invalid_request_error",
          415: "invalid_request_error",
          429: "rate_limit_error", 500: "server_error", 503: "server_error", 507: "server_error"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.retry_after = retry_after


class BadJson(ValueError):
    """A client's message or field that is not JSON this service reads; the text says why."""


def client_json(text: str | bytes):
    """What a client sent as JSON, parsed. :class:`BadJson` where it is not JSON, or nests deeper
    than the parser goes (Python's raises RecursionError past about a thousand levels, which
    would otherwise end a WebSocket's handler with no close frame and no error)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadJson(f"not JSON ({exc.msg} at character {exc.pos})") from None
    except RecursionError:
        raise BadJson("JSON nested too deeply to read") from None


def envelope(status: int, message: str, code: str | None = None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": _TYPES.get(status, "invalid_request_error"),
                      "param": param, "code": code}}


def error_response(error: ApiError) -> JSONResponse:
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    if error.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(envelope(error.status, error.message, error.code, error.param),
                        status_code=error.status, headers=headers)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        message = {404: f"There is no {request.url.path} here.",
                   405: f"{request.method} is not allowed on {request.url.path}."}.get(exc.status_code, str(exc.detail))
        return error_response(ApiError(exc.status_code, message, code="not_found" if exc.status_code == 404 else None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        return error_response(ApiError(400, f"{where or 'request'}: {first.get('msg', 'invalid')}", param=where))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        logger.exception("Unexpected error serving %s %s", request.method, request.url.path)
        return error_response(ApiError(500, f"The service failed on this request ({type(exc).__name__}); "
                                            "see its log for details."))
