"""What every resolver gets as ``info.context``: the caller, the services, and the
request's loaders (:mod:`.loaders`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from parley.api.graphql.loaders import Loader
from parley.core.claims import Claims
from parley.core.records import EntityLock, Message, Profile
from parley.domain.services import Services
from parley.domain.views import MessageView


class Streams(Protocol):
    """The live events of one subscription connection (:mod:`.ws`)."""

    def stream(
        self, pattern: str, keep: Callable[[dict[str, Any]], bool] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """The events on ``pattern`` (a topic pattern the caller may read) that ``keep``
        keeps, until the subscription ends."""
        ...


@dataclass
class Context:
    services: Services
    claims: Claims
    profiles: Loader[str, str, Profile] = field(init=False)
    views: Loader[str, Message, MessageView] = field(init=False)
    locks: Loader[str, str, EntityLock | None] = field(init=False)
    #: The live events, on a subscription connection (None over HTTP).
    streams: Streams | None = None

    def __post_init__(self) -> None:
        org, me = self.claims.org, self.claims.sub
        svc = self.services

        async def profiles(ids: list[str]) -> list[Profile]:
            return await svc.profiles.get_profiles(org, ids)

        async def views(messages: list[Message]) -> list[MessageView]:
            return await svc.messages.views(org, me, messages)

        async def locks(entities: list[str]) -> list[EntityLock | None]:
            found = {lk.entity: lk for lk in await svc.locks.locks(org, me, entities)}
            return [found.get(e) for e in entities]

        self.profiles = Loader(profiles)
        self.views = Loader(views)
        self.locks = Loader(locks)

    @property
    def org(self) -> str:
        return self.claims.org

    @property
    def me(self) -> str:
        return self.claims.sub
