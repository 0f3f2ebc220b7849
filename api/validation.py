"""``validate_json(Model)``: quart-schema's ``validate_request`` for a JSON body, with the
model's validator built once at import instead of once per request (quart-schema 0.25
builds a pydantic ``TypeAdapter`` in every call). Used on the hottest routes (posting a
message, publishing events); the OpenAPI document and every answer are the same: a body
that is not JSON is 400 ``bad_json``, one that does not fit the model 400 ``bad_request``
(api/errors.py turns :class:`RequestSchemaValidationError` into both)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from quart import request
from quart_schema import RequestSchemaValidationError, document_request

M = TypeVar("M")
Handler = Callable[..., Awaitable[Any]]


def validate_json(model_class: type[M]) -> Callable[[Handler], Handler]:
    """Validate the JSON body against ``model_class``; the handler gets it as ``data``."""
    adapter = TypeAdapter(model_class)

    def decorator(func: Handler) -> Handler:
        document_request(model_class)(func)  # what the OpenAPI document reads

        @wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            body = await request.get_json()
            try:
                data = adapter.validate_python(body)
            except (TypeError, PydanticValidationError, ValueError) as error:
                raise RequestSchemaValidationError(error) from None
            return await func(*args, data=data, **kwargs)

        return wrapper

    return decorator
