"""What runs after a post commits: one list for every way of posting (plain, reply,
share, file message, stream completion; over WebSocket or REST)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from parley.core.records import PostResult

AfterPost = Callable[[PostResult], Awaitable[None]]


class PostHooks:
    """The after-commit steps of a post, in the order added (mentions, previews, ...).
    The composition root adds them; every service that posts runs them all."""

    def __init__(self) -> None:
        self._hooks: list[AfterPost] = []

    def add(self, hook: AfterPost) -> None:
        self._hooks.append(hook)

    async def run(self, result: PostResult) -> None:
        for hook in self._hooks:
            await hook(result)
