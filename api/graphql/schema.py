"""The executable schema: ``schema.graphql`` (checked in: the source of truth, in
``print_schema`` form, which ``tests/api/test_graphql_schema.py`` checks) with the resolvers
of :mod:`.resolvers` bound to its fields, its scalars and its enums' values."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    ValueNode,
    build_schema,
    get_nullable_type,
    value_from_ast_untyped,
)
from graphql.language import StringValueNode

from parley.api.graphql import inbox
from parley.api.graphql.resolvers import RESOLVERS, SUBSCRIBERS
from parley.core.errors import ClientError
from parley.core.times import parse_ts, rfc3339

#: Enum values as the domain spells them.
ENUM_VALUES: dict[str, dict[str, str]] = {
    "ChannelKind": {"DIRECT": "direct", "GROUP": "group", "BROADCAST": "broadcast"},
    "Role": {"OWNER": "owner", "ADMIN": "admin", "MEMBER": "member"},
    "MessageOrder": {"NEWEST_FIRST": "newest", "OLDEST_FIRST": "oldest"},
    "NotificationState": {"SEEN": "seen", "READ": "read", "ARCHIVED": "archived"},
    "NotificationArchive": {"INBOX": "inbox", "ARCHIVED": "archived", "ALL": "all"},
}
#: Registers its resolvers into RESOLVERS (notifications, scheduled messages, reminders).
_REGISTERED = inbox


def sdl() -> str:
    return resources.files("parley.api.graphql").joinpath("schema.graphql").read_text("utf-8")


def _serialize_datetime(value: Any) -> str:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, str):  # already RFC 3339 (presence entries)
        return value
    raise GraphQLError(f"DateTime cannot represent {value!r}")


def _parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise GraphQLError("DateTime must be an RFC 3339 string")
    try:
        return parse_ts(value, what="DateTime")
    except ClientError as exc:
        raise GraphQLError(exc.message) from None


def _parse_datetime_literal(node: ValueNode, _variables: Any = None) -> datetime:
    if not isinstance(node, StringValueNode):
        raise GraphQLError("DateTime must be an RFC 3339 string")
    return _parse_datetime(node.value)


def _remap_enum_defaults(schema: GraphQLSchema) -> None:
    """Argument defaults were coerced to the enum values build_schema gave (the names):
    give them the domain's spelling too."""
    for named in schema.type_map.values():
        if not isinstance(named, GraphQLObjectType):
            continue
        for fdef in named.fields.values():
            for arg in fdef.args.values():
                inner = get_nullable_type(arg.type)
                if (
                    isinstance(inner, GraphQLEnumType)
                    and inner.name in ENUM_VALUES
                    and isinstance(arg.default_value, str)
                ):
                    arg.default_value = ENUM_VALUES[inner.name][arg.default_value]


@cache
def parley_schema() -> GraphQLSchema:
    schema = build_schema(sdl())
    dt = schema.type_map["DateTime"]
    assert isinstance(dt, GraphQLScalarType)
    dt.serialize = _serialize_datetime  # type: ignore[method-assign]
    dt.parse_value = _parse_datetime  # type: ignore[method-assign]
    dt.parse_literal = _parse_datetime_literal  # type: ignore[method-assign,assignment]
    js = schema.type_map["JSON"]
    assert isinstance(js, GraphQLScalarType)
    js.serialize = lambda v: v  # type: ignore[method-assign,assignment]
    js.parse_value = lambda v: v  # type: ignore[method-assign,assignment]
    js.parse_literal = value_from_ast_untyped  # type: ignore[method-assign,assignment]
    for name, values in ENUM_VALUES.items():
        enum = schema.type_map[name]
        assert isinstance(enum, GraphQLEnumType)
        for key, value in values.items():
            enum.values[key].value = value
    _remap_enum_defaults(schema)
    for type_name, fields in RESOLVERS.items():
        obj = schema.type_map[type_name]
        assert isinstance(obj, GraphQLObjectType), type_name
        for field_name, fn in fields.items():
            obj.fields[field_name].resolve = fn
    sub = schema.subscription_type
    assert sub is not None
    for field_name, fn in SUBSCRIBERS.items():
        sub.fields[field_name].subscribe = fn
    return schema
