"""What one GraphQL document may ask for, checked after parsing and validation and before
anything runs: its size, its depth, and its complexity (an estimate of the rows it reads).

* size: at most :data:`MAX_DOCUMENT_BYTES` of query text (``payload_too_large``);
* depth: fields nested at most :data:`MAX_DEPTH` deep (introspection's ``__schema`` /
  ``__type`` subtrees are not counted, so GraphiQL's introspection query passes);
* complexity: an estimate of the objects a query reads. A field of an object type costs 1
  and what is below it; a field with a ``first`` argument (the paginated lists and
  connections) multiplies that by its ``first`` (or the default page, 50; at most 200), a
  list without one by :data:`PLAIN_LIST`; scalars are free. At most :data:`MAX_COMPLEXITY`
  for the whole document: one page of 50 messages with authors and reactions costs 600, 50
  channels with their members' profiles and two messages each about 6,400, and
  ``channels(first: 200) { messages(first: 200) { author { userId } } }`` 80,400 (refused).

Refusals are ``bad_request`` errors naming the limit (``extensions.limit``) before any
resolver runs. No persisted queries: every request carries its document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from graphql.language import DocumentNode

MAX_DOCUMENT_BYTES = 16 * 1024
MAX_DEPTH = 12
MAX_COMPLEXITY = 10_000
#: What a list without ``first`` (reactions, pins, a team's members) is assumed to hold.
PLAIN_LIST = 10
#: The page a list field is assumed to return when no ``first`` is given, and the cap.
DEFAULT_PAGE = 50
MAX_PAGE = 200
INTROSPECTION = frozenset({"__schema", "__type"})


@dataclass(frozen=True, slots=True)
class LimitExceeded(Exception):
    limit: str
    message: str


def _unwrap(t: Any) -> Any:
    while isinstance(t, GraphQLNonNull):
        t = t.of_type
    return t


def _is_list(t: GraphQLOutputType) -> bool:
    return isinstance(_unwrap(t), GraphQLList)


def _named(t: Any) -> Any:
    t = _unwrap(t)
    while isinstance(t, (GraphQLList, GraphQLNonNull)):
        t = t.of_type
    return t


class _Walk:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def first(self, node: FieldNode) -> int:
        """The page a paginated field asks for (its ``first``, or the default)."""
        for arg in node.arguments or ():
            if arg.name.value != "first":
                continue
            v = arg.value
            if isinstance(v, IntValueNode):
                return max(1, min(int(v.value), MAX_PAGE))
            if isinstance(v, VariableNode):
                got = self.variables.get(v.name.value)
                if isinstance(got, int) and not isinstance(got, bool):
                    return max(1, min(got, MAX_PAGE))
        return DEFAULT_PAGE

    def fields(self, sel: SelectionSetNode | None, seen: frozenset[str]) -> list[FieldNode]:
        out: list[FieldNode] = []
        for s in sel.selections if sel is not None else ():
            if isinstance(s, FieldNode):
                out.append(s)
            elif isinstance(s, InlineFragmentNode):
                out.extend(self.fields(s.selection_set, seen))
            elif isinstance(s, FragmentSpreadNode) and s.name.value not in seen:
                frag = self.fragments.get(s.name.value)
                if frag is not None:
                    out.extend(self.fields(frag.selection_set, seen | {s.name.value}))
        return out

    def measure(self, parent: Any, sel: SelectionSetNode | None, depth: int) -> tuple[int, int]:
        """(depth, cost) of a selection set on ``parent``."""
        deepest, cost = depth, 0
        for node in self.fields(sel, frozenset()):
            name = node.name.value
            if name in INTROSPECTION or name.startswith("__"):
                continue
            fdef = parent.fields.get(name) if isinstance(parent, GraphQLObjectType) else None
            if fdef is None:
                continue
            if node.selection_set is None:
                continue  # a scalar or enum: read with its object
            d, below = self.measure(_named(fdef.type), node.selection_set, depth + 1)
            deepest = max(deepest, d)
            if "first" in fdef.args:
                cost += self.first(node) * (1 + below)
            elif _is_list(fdef.type):
                cost += PLAIN_LIST * (1 + below)
            else:
                cost += 1 + below
        return deepest, cost


def check_document_size(query: str) -> None:
    if len(query.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise LimitExceeded("size", f"the document is larger than {MAX_DOCUMENT_BYTES} bytes")


def check_limits(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict[str, Any] | None,
) -> None:
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = {
        "query": schema.query_type,
        "mutation": schema.mutation_type,
        "subscription": schema.subscription_type,
    }[operation.operation.value]
    walk = _Walk(schema, fragments, variables or {})
    depth, cost = walk.measure(root, operation.selection_set, 0)
    if depth > MAX_DEPTH:
        raise LimitExceeded("depth", f"the query is {depth} fields deep; the limit is {MAX_DEPTH}")
    if cost > MAX_COMPLEXITY:
        raise LimitExceeded(
            "complexity", f"the query's complexity is {cost}; the limit is {MAX_COMPLEXITY}"
        )
