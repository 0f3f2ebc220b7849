"""One GraphQL operation from text to a JSON-ready result, shared by HTTP and the
subscription WebSocket: parse, validate (the spec's rules), check the limits
(:mod:`.limits`), execute on trio (:mod:`.trio_exec`), format errors.

Every error carries ``extensions.code``, one of the REST error codes
(``parley.core.codes.ErrorCode``): a domain refusal keeps its own (``not_found``,
``forbidden``, ``conflict``... and its ``details``), a document that does not parse or
validate, bad variables and a limit are ``bad_request``, an outage ``unavailable``, our bug
``internal`` (logged; the message says no more)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    OperationDefinitionNode,
    execute,
    get_operation_ast,
    parse,
    validate,
)

from parley.api.graphql.context import Context
from parley.api.graphql.limits import LimitExceeded, check_document_size, check_limits
from parley.api.graphql.resolvers import default_resolver
from parley.api.graphql.schema import parley_schema
from parley.api.graphql.trio_exec import TrioExecutionContext
from parley.core.codes import ErrorCode
from parley.core.errors import ClientError, Unavailable

log = logging.getLogger("parley.graphql")

#: Most variables one request may carry (values are bounded by the body size).
MAX_VARIABLES = 100


class RequestError(Exception):
    """The request cannot run at all (HTTP 400): ``errors`` and no ``data``."""

    def __init__(
        self,
        errors: list[dict[str, Any]],
        *,
        code: ErrorCode = ErrorCode.BAD_REQUEST,
        wrong_kind: bool = False,
    ) -> None:
        super().__init__(errors[0]["message"] if errors else "bad request")
        self.errors = errors
        self.code = code
        #: The operation is of a kind not allowed here (a mutation by GET: 405).
        self.wrong_kind = wrong_kind


def error(message: str, code: ErrorCode = ErrorCode.BAD_REQUEST, **ext: Any) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": str(code), **ext}}


@dataclass(frozen=True, slots=True)
class Prepared:
    document: DocumentNode
    operation: OperationDefinitionNode
    variables: dict[str, Any]
    operation_name: str | None

    @property
    def kind(self) -> str:
        return self.operation.operation.value


def prepare(
    query: object,
    variables: object,
    operation_name: object,
    *,
    kinds: frozenset[str],
    how: str = "mutations need POST",
) -> Prepared:
    """Parse and validate one request; :class:`RequestError` if it cannot run (``how``:
    what to say of an operation of a kind not in ``kinds``)."""
    if not isinstance(query, str) or not query.strip():
        raise RequestError([error("'query' must be a non-empty string")])
    if variables is not None and not isinstance(variables, dict):
        raise RequestError([error("'variables' must be an object")])
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError([error("'operationName' must be a string")])
    if variables is not None and len(variables) > MAX_VARIABLES:
        raise RequestError([error(f"at most {MAX_VARIABLES} variables")])
    try:
        check_document_size(query)
    except LimitExceeded as exc:
        raise RequestError(
            [error(exc.message, ErrorCode.PAYLOAD_TOO_LARGE, limit=exc.limit)],
            code=ErrorCode.PAYLOAD_TOO_LARGE,
        ) from None
    try:
        document = parse(query, max_tokens=5000)
    except GraphQLError as exc:
        raise RequestError([format_error(exc)]) from None
    schema = parley_schema()
    problems = validate(schema, document, max_errors=20)
    if problems:
        raise RequestError([format_error(e) for e in problems])
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        raise RequestError([error("no operation of that name (or several and no operationName)")])
    if operation.operation.value not in kinds:
        message = f"a {operation.operation.value} is not allowed here ({how})"
        raise RequestError([error(message)], wrong_kind=True)
    try:
        check_limits(schema, document, operation, variables)
    except LimitExceeded as exc:
        raise RequestError([error(exc.message, limit=exc.limit)]) from None
    return Prepared(document, operation, dict(variables or {}), operation_name)


async def run(prepared: Prepared, context: Context, root: Any = None) -> dict[str, Any]:
    """Execute; the response ``{"data": ..., "errors": [...]}``."""
    result = execute(
        parley_schema(),
        prepared.document,
        root_value=root,
        context_value=context,
        variable_values=prepared.variables,
        operation_name=prepared.operation_name,
        field_resolver=default_resolver,
        execution_context_class=TrioExecutionContext,
    )
    if not isinstance(result, ExecutionResult):
        result = await result
    return response(result)


def response(result: ExecutionResult) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if result.errors:
        out["errors"] = [format_error(e) for e in result.errors]
    out["data"] = result.data
    return out


def format_error(err: GraphQLError) -> dict[str, Any]:
    out: dict[str, Any] = {"message": err.message}
    if err.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in err.locations]
    if err.path:
        out["path"] = list(err.path)
    original = err.original_error
    ext: dict[str, Any]
    if isinstance(original, ClientError):
        out["message"] = original.message
        ext = {"code": str(original.code)}
        if original.details is not None:
            ext["details"] = original.details
    elif isinstance(original, Unavailable):
        out["message"] = "the service is unavailable; retry later"
        ext = {"code": str(ErrorCode.UNAVAILABLE)}
    elif original is not None and not isinstance(original, GraphQLError):
        log.error("unhandled error in GraphQL field %s", err.path, exc_info=original)
        out["message"] = "internal error"
        ext = {"code": str(ErrorCode.INTERNAL)}
    else:
        ext = {"code": str(ErrorCode.BAD_REQUEST)}
    out["extensions"] = ext
    return out
