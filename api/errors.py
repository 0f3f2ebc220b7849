"""Every error is JSON ``{"error": {"code": ..., "message": ...}}`` with a 4xx/5xx status.

:data:`STATUS` maps each :class:`ErrorCode` to its HTTP status, once. Routing errors (404,
405), bad JSON bodies, schema validation failures and oversized bodies become JSON too; an
unexpected exception is logged and answered 500 ``internal``, never with a traceback.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
from pydantic import ValidationError
from quart import Quart, Response, current_app, jsonify, request
from quart.json.provider import DefaultJSONProvider
from quart_schema import RequestSchemaValidationError
from quart_trio.wrappers import TrioRequest
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.sansio.response import Response as SansIOResponse

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError, RateLimited, Unavailable

STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_JSON: 400,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNKNOWN_OP: 400,
    ErrorCode.INVALID_TOPIC: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.ALREADY_SUBSCRIBED: 409,
    ErrorCode.NOT_SUBSCRIBED: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.QUOTA_EXCEEDED: 429,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.TOO_MANY_SUBSCRIPTIONS: 429,
    ErrorCode.TOO_MANY_IN_FLIGHT: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.UNAVAILABLE: 503,
}

#: Codes for HTTP errors raised by Quart/Werkzeug themselves (routing, body size...).
HTTP_CODES: dict[int, ErrorCode] = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.UNAVAILABLE,
}


class BadJson(BadRequest):
    """The request body is not valid JSON."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


#: orjson leaves to :meth:`DefaultJSONProvider.default` what the stdlib encoder did not
#: encode itself either (dates as HTTP dates, dataclasses, decimals): the same text.
_ORJSON_OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


class StrictJSONProvider(DefaultJSONProvider):
    """Standard JSON only: ``NaN`` and ``Infinity`` are refused, and nesting deeper than
    the parser's recursion limit is a 400 ``bad_json`` rather than a ``RecursionError``
    (500). Strings that cannot be stored (lone surrogates) parse, and validation refuses
    them with ``bad_request``. Responses keep the models' field order.

    Responses are encoded with orjson (UTF-8 rather than ``\\u`` escapes: the same JSON
    values, in a fifth of the stdlib encoder's time); what orjson refuses (an integer
    beyond 64 bits, a lone surrogate) falls back to the stdlib encoder, as before."""

    sort_keys = False

    def response(self, *args: Any, **kwargs: Any) -> SansIOResponse:
        if self.compact is False or (self.compact is None and self._app.debug):
            return super().response(*args, **kwargs)  # indented: the stdlib's layout
        obj = self._prepare_response_obj(args, kwargs)
        try:
            body = orjson.dumps(obj, default=self.default, option=_ORJSON_OPTIONS)
        except (orjson.JSONEncodeError, TypeError):
            return super().response(*args, **kwargs)
        response_class: Any = self._app.response_class  # Quart's: takes bytes
        response: SansIOResponse = response_class(body + b"\n", mimetype=self.mimetype)
        return response

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return json.loads(s, parse_constant=_refuse_constant)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


class ApiRequest(TrioRequest):
    async def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        # Quart decodes the body as UTF-8 before it parses (and before the parse's error
        # hook): a body that is not UTF-8 raised UnicodeDecodeError, a 500.
        try:
            return await super().get_json(force=force, silent=silent, cache=cache)
        except UnicodeDecodeError as exc:
            if silent:
                return None
            raise BadJson(f"request body is not valid JSON: not UTF-8 ({exc.reason})") from None

    def on_json_loading_failed(self, error: Exception) -> Any:
        raise BadJson(f"request body is not valid JSON: {error}")


def error_response(
    code: ErrorCode,
    message: str,
    status: int | None = None,
    *,
    details: dict[str, Any] | None = None,
) -> Response:
    error: dict[str, Any] = {"code": str(code), "message": message}
    if details is not None:
        error["details"] = details
    response = jsonify({"error": error})
    response.status_code = STATUS.get(code, 400) if status is None else status
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="parley"'
    return response


def _describe(error: Exception | None) -> str:
    if isinstance(error, ValidationError):
        parts = []
        for e in error.errors(include_url=False):
            where = ".".join(str(p) for p in e["loc"]) or "body"
            parts.append(f"{where}: {e['msg']}")
        return "; ".join(parts)
    return str(error) if error is not None else "invalid request"


async def _client_error(error: ClientError) -> Response:
    response = error_response(error.code, error.message, details=error.details)
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    return response


async def _validation_error(error: RequestSchemaValidationError) -> Response:
    if request.method in ("POST", "PUT", "PATCH") and not request.is_json:
        return error_response(
            ErrorCode.BAD_JSON, "request body must be JSON (Content-Type: application/json)"
        )
    return error_response(ErrorCode.BAD_REQUEST, _describe(error.validation_error))


async def _bad_json(error: BadJson) -> Response:
    return error_response(ErrorCode.BAD_JSON, error.description or "bad JSON")


async def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    code = HTTP_CODES.get(status)
    if code is None:
        code = ErrorCode.BAD_REQUEST if status < 500 else ErrorCode.INTERNAL
    message = error.description or error.name
    response = error_response(code, message, status)
    if status == 405 and error.response is None:
        allowed = getattr(error, "valid_methods", None)
        if allowed:
            response.headers["Allow"] = ", ".join(allowed)
    return response


async def _unavailable(error: Unavailable) -> Response:
    """An outage (logged once where it was detected), not a bug: no traceback per request."""
    response = error_response(ErrorCode.UNAVAILABLE, "the service is unavailable; retry later")
    response.headers["Retry-After"] = str(error.retry_after)
    return response


async def _unexpected(error: Exception) -> Response:
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(ErrorCode.INTERNAL, "internal error")


def install_error_handlers(app: Quart) -> None:
    app.json = StrictJSONProvider(app)
    app.request_class = ApiRequest
    app.register_error_handler(ClientError, _client_error)
    app.register_error_handler(RequestSchemaValidationError, _validation_error)
    app.register_error_handler(BadJson, _bad_json)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Unavailable, _unavailable)
    app.register_error_handler(Exception, _unexpected)
