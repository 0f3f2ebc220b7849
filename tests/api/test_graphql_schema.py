"""The checked-in SDL is the schema (in ``print_schema`` form), and every root field has
a resolver."""

from __future__ import annotations

from graphql import GraphQLObjectType, print_schema

from parley.api.graphql.resolvers import RESOLVERS
from parley.api.graphql.schema import parley_schema, sdl


def test_checked_in_sdl_is_the_generated_schema() -> None:
    # Regenerate after editing: python -c 'from parley.api.graphql.schema import ...'
    # (docs/graphql.md, "Changing the schema").
    assert print_schema(parley_schema()) + "\n" == sdl()


def test_every_root_field_has_a_resolver_and_every_resolver_a_field() -> None:
    schema = parley_schema()
    for root in (schema.query_type, schema.mutation_type):
        assert root is not None
        missing = set(root.fields) - set(RESOLVERS.get(root.name, {}))
        assert not missing, f"{root.name}: {sorted(missing)}"
    for type_name, fields in RESOLVERS.items():
        obj = schema.type_map[type_name]
        assert isinstance(obj, GraphQLObjectType)
        assert set(fields) <= set(obj.fields), type_name
