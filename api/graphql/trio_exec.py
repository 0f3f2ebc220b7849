"""graphql-core 3.2 on trio: an :class:`ExecutionContext` whose concurrent steps run in a
trio nursery instead of ``asyncio.gather``.

graphql-core 3.2 executes async resolvers with plain ``await`` everywhere but in two places,
which await several results at once through the module-level ``asyncio.gather`` of
``graphql/execution/execute.py``: the fields of one selection set
(:meth:`ExecutionContext.execute_fields`) and the items of a list
(:meth:`ExecutionContext.complete_list_value`). Under trio, ``asyncio.gather`` fails as
soon as two of them are awaitable ("no running event loop"). :class:`TrioExecutionContext`
overrides exactly those two methods, keeping their logic (copied from graphql-core 3.2.14)
and gathering in a nursery; pass it as ``execution_context_class`` to ``graphql.execute``.
Mutations run their fields one by one (``execute_fields_serially``, unchanged). Abstract
types with an async ``is_type_of`` would still gather with asyncio: Parley's schema has none.

``graphql.subscribe`` needs asyncio too (``MapAsyncIterator``); Parley maps subscription
events itself: ``create_source_event_stream`` (plain ``await``) and one ``execute`` per event
(:mod:`.subscriptions`).

Upstream: graphql-core issue 166 asks for a pluggable gather (anyio); graphql-core 3.3 (which
strawberry requires) uses asyncio throughout and fails under trio as soon as a query has two
async fields. ``tests/api/test_graphql_trio.py`` pins the behaviour this module relies on, so
an upgrade that changes it fails loudly. Drop this module when upstream supports trio.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Iterable
from typing import Any

import trio
from graphql import GraphQLError, GraphQLList, GraphQLObjectType, GraphQLOutputType
from graphql.error import located_error
from graphql.execution import ExecutionContext
from graphql.language import FieldNode
from graphql.pyutils import Path, Undefined, is_iterable
from graphql.type import GraphQLResolveInfo


async def gather(awaitables: list[Awaitable[Any]]) -> list[Any]:
    """Await all concurrently in a nursery; results in order. The first error cancels the
    rest and is raised as itself (not inside an ExceptionGroup), as ``asyncio.gather``
    raises its first error: graphql-core's handling of a non-null field's error (null the
    parent) then proceeds as upstream."""
    results: list[Any] = [None] * len(awaitables)

    async def run(i: int, aw: Awaitable[Any]) -> None:
        results[i] = await aw

    try:
        async with trio.open_nursery() as nursery:
            for i, aw in enumerate(awaitables):
                nursery.start_soon(run, i, aw)
    except BaseExceptionGroup as group:
        first = _first_error(group)
        if first is None:
            raise
        raise first from None
    return results


def _first_error(group: BaseExceptionGroup[BaseException]) -> Exception | None:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            inner = _first_error(exc)
            if inner is not None:
                return inner
        elif isinstance(exc, Exception):
            return exc
    return None


class TrioExecutionContext(ExecutionContext):
    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        fields: dict[str, list[FieldNode]],
    ) -> Any:
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        for response_name, field_nodes in fields.items():
            field_path = Path(path, response_name, parent_type.name)
            result = self.execute_field(parent_type, source_value, field_nodes, field_path)
            if result is not Undefined:
                results[response_name] = result
                if self.is_awaitable(result):
                    awaitable_fields.append(response_name)
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            done = await gather([results[name] for name in awaitable_fields])
            results.update(zip(awaitable_fields, done, strict=True))
            return results

        return get_results()

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_nodes: list[FieldNode],
        info: GraphQLResolveInfo,
        path: Path,
        result: AsyncIterable[Any] | Iterable[Any],
    ) -> Any:
        if not is_iterable(result):
            if isinstance(result, AsyncIterable):

                async def async_iterable_to_list(async_result: AsyncIterable[Any]) -> Any:
                    items = [item async for item in async_result]
                    return self.complete_list_value(return_type, field_nodes, info, path, items)

                return async_iterable_to_list(result)
            raise GraphQLError(
                "Expected Iterable, but did not find one for field"
                f" '{info.parent_type.name}.{info.field_name}'."
            )
        item_type = return_type.of_type
        awaitable_indices: list[int] = []
        completed_results: list[Any] = []
        for index, item in enumerate(result):  # type: ignore[arg-type]
            item_path = path.add_key(index, None)
            completed_item: Any
            if self.is_awaitable(item):
                completed_item = self._await_item(item_type, field_nodes, info, item_path, item)
            else:
                try:
                    completed_item = self.complete_value(
                        item_type, field_nodes, info, item_path, item
                    )
                    if self.is_awaitable(completed_item):
                        completed_item = self._await_completed(
                            item_type, field_nodes, item_path, completed_item
                        )
                except Exception as raw_error:
                    error = located_error(raw_error, field_nodes, item_path.as_list())
                    self.handle_field_error(error, item_type, item_path)
                    completed_item = None
            if self.is_awaitable(completed_item):
                awaitable_indices.append(index)
            completed_results.append(completed_item)
        if not awaitable_indices:
            return completed_results

        async def get_completed_results() -> list[Any]:
            done = await gather([completed_results[i] for i in awaitable_indices])
            for index, value in zip(awaitable_indices, done, strict=True):
                completed_results[index] = value
            return completed_results

        return get_completed_results()

    async def _await_item(
        self,
        item_type: GraphQLOutputType,
        field_nodes: list[FieldNode],
        info: GraphQLResolveInfo,
        item_path: Path,
        item: Any,
    ) -> Any:
        try:
            completed = self.complete_value(item_type, field_nodes, info, item_path, await item)
            if self.is_awaitable(completed):
                return await completed
            return completed
        except Exception as raw_error:
            error = located_error(raw_error, field_nodes, item_path.as_list())
            self.handle_field_error(error, item_type, item_path)
            return None

    async def _await_completed(
        self, item_type: GraphQLOutputType, field_nodes: list[FieldNode], item_path: Path, item: Any
    ) -> Any:
        try:
            return await item
        except Exception as raw_error:
            error = located_error(raw_error, field_nodes, item_path.as_list())
            self.handle_field_error(error, item_type, item_path)
            return None
