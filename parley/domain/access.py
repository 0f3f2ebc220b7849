"""The one access policy of the chat domain.

A channel the caller is not a member of answers ``not_found`` exactly like one that does
not exist (in this org or at all), so ids do not leak; every call is scoped to the org
of the caller's token. Posting checks membership and role inside the write transaction
(:func:`post_policy`); everything else reads the membership first (:func:`membership`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.records import Channel, ChannelKind, Member, Message, Role
from parley.domain import rules
from parley.store import Store, sql
from parley.store.errors import Conflict, NotFound
from parley.store.sql.messages import Authorize

BROADCAST_REFUSAL = "only owners and admins post in a broadcast channel"


def not_found(what: str) -> ClientError:
    return ClientError(ErrorCode.NOT_FOUND, f"no such {what}")


def no_channel() -> ClientError:
    return not_found("channel")


def forbidden(message: str) -> ClientError:
    return ClientError(ErrorCode.FORBIDDEN, message)


@asynccontextmanager
async def store_errors(what: str | None = None, *, cursor: bool = False) -> AsyncIterator[None]:
    """Translate the store's facts into client errors: NotFound -> ``not_found`` ("no
    such {what}", or the store's own words), Conflict -> ``conflict``, and with
    ``cursor`` a ValueError (an undecodable cursor) -> ``bad_request``."""
    try:
        yield
    except NotFound as exc:
        message = f"no such {what}" if what is not None else str(exc) or "not found"
        raise ClientError(ErrorCode.NOT_FOUND, message) from None
    except Conflict as exc:
        raise ClientError(ErrorCode.CONFLICT, str(exc) or "conflict") from None
    except ValueError as exc:
        if not cursor:
            raise
        raise ClientError(ErrorCode.BAD_REQUEST, f"bad cursor: {exc}") from None


async def membership(
    store: Store, org: str, user_id: str, channel_id: str
) -> tuple[Channel, Member]:
    """The channel and the caller's membership, or ``not_found`` ("no such channel")."""
    channel = member = None
    if rules.is_clean(channel_id):  # could not exist; PostgreSQL refuses NUL
        channel = await store.read(sql.channels.get_channel, org, channel_id)
        if channel is not None:
            member = await store.read(sql.members.get_member, org, channel_id, user_id)
    if channel is None or member is None:
        raise no_channel()
    return channel, member


async def is_member(store: Store, org: str, channel_id: str, user_id: str) -> bool:
    return await store.read(sql.members.get_member, org, channel_id, user_id) is not None


async def message(
    store: Store, org: str, channel_id: str, message_id: str, *, live: bool = True
) -> Message:
    """A message of the channel (a live one unless ``live`` is false), or ``not_found``."""
    msg = None
    if rules.is_clean(message_id):
        msg = await store.read(sql.messages.get_message, org, channel_id, message_id)
    if msg is None or (live and msg.deleted):
        raise not_found("message")
    return msg


async def check_reachable(store: Store, org: str, actor: str, targets: Sequence[str]) -> None:
    """Refuse to add ``targets`` to a channel (or open a direct channel with them) when one
    of them deleted their account or blocked ``actor``: ``not_found`` ("no such user"),
    the same answer for both, so a block is never revealed (docs/privacy.md)."""
    others = [t for t in dict.fromkeys(targets) if t != actor]
    if not others:
        return
    if await store.read(sql.blocks.blockers_of, org, actor, others):
        raise not_found("user")
    for target in others:
        if await store.read(sql.accounts.is_deleted, org, target):
            raise not_found("user")


def is_moderator(member: Member | None) -> bool:
    return member is not None and member.role in rules.MODERATORS


def post_policy(*, service: bool = False) -> Authorize:
    """Who may post, checked by the store inside the post's write transaction: members
    (owners and admins only, in a broadcast channel); with ``service``, also the org's
    services that are not members (bot streams)."""

    def authorize(kind: ChannelKind, role: Role | None) -> None:
        if role is None:
            if service:
                return
            raise no_channel()  # not a member: the same answer as no such channel
        if not rules.can_post(kind, role):
            raise forbidden(BROADCAST_REFUSAL)

    return authorize
