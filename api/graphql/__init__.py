"""GraphQL at ``/graphql`` on the REST port (docs/graphql.md): schema-first (``schema.graphql``),
executed by graphql-core 3.2 on trio (:mod:`.trio_exec`), over the same domain services,
tokens and access rules as REST."""
