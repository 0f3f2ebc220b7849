"""The one post pipeline: every way of posting a message (plain, reply, share, file
message, bot stream completion; over WebSocket or REST) is a :class:`Draft` that goes
through :meth:`Poster.post`: the same input checks, one store operation with the access
check inside its transaction (:func:`parley.store.sql.messages.post`), and the same
after-commit hooks (mentions, previews, ...)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.records import Draft, PostResult
from parley.core.times import rfc3339
from parley.domain import content, rules
from parley.domain.access import no_channel, post_policy
from parley.domain.hooks import PostHooks
from parley.store import Store, sql
from parley.store.errors import Conflict, NotFound


class Poster:
    def __init__(self, store: Store, hooks: PostHooks) -> None:
        self.store = store
        #: Run after every post that wrote a message; the composition root fills it.
        self.hooks = hooks

    async def post(
        self,
        draft: Draft,
        *,
        allow_empty: bool = False,
        service: bool = False,
        checked_text: bool = False,
    ) -> PostResult:
        """Check, write and announce ``draft``. ``allow_empty``: the text may be empty (a
        share, a message carrying files). ``service``: the org's services may post without
        being members (bot streams). ``checked_text``: the text was checked as it arrived
        (a stream's chunks). Refusals are :class:`ClientError` s and write nothing."""
        if not checked_text and not (allow_empty and draft.text == ""):
            content.check_rich_text(rules.check_text(draft.text))
        key = rules.check_idempotency_key(draft.idempotency_key)
        if not rules.is_clean(draft.channel_id):  # could not exist; PostgreSQL refuses NUL
            raise no_channel()
        if not all(isinstance(f, str) and rules.is_clean(f) for f in draft.file_ids):
            raise rules.bad("file ids must be strings")
        if draft.thread_root is not None and not rules.is_clean(draft.thread_root):
            raise ClientError(ErrorCode.NOT_FOUND, "no such message")
        try:
            result = await self.store.write(
                sql.messages.post,
                replace(draft, idempotency_key=key),
                authorize=post_policy(service=service),
            )
        except NotFound as exc:
            what = str(exc)
            if what.startswith("channel"):
                raise no_channel() from None  # no channel, or not a member: one answer
            message = what if what.startswith("no such") else f"no such {what}"
            raise ClientError(ErrorCode.NOT_FOUND, message) from None
        except Conflict as exc:
            raise ClientError(ErrorCode.CONFLICT, str(exc) or "conflict") from None
        except ValueError as exc:
            raise rules.bad(str(exc)) from None
        await self.hooks.run(result)
        return result


def post_reply(result: PostResult) -> dict[str, Any]:
    """The reply fields of a post, for WebSocket and REST alike."""
    m = result.message
    return {
        "message_id": m.id,
        "seq": m.seq,
        "ts": rfc3339(m.created_at),
        "channel": m.channel_id,
        "created": result.created,
    }
