"""The one post pipeline: every way of posting a message (plain, reply, share, file
message, bot stream completion; over WebSocket or REST) is a :class:`Draft` that goes
through :meth:`Poster.post`: the same input checks, one store operation with the access
check inside its transaction (:func:`parley.store.sql.messages.post`), and the same
after-commit hooks (mentions, previews, ...)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from outcome import Error, Outcome, Value

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
        checked = self._check(draft, allow_empty=allow_empty, checked_text=checked_text)
        policy = post_policy(service=service)
        try:
            if checked.thread_root or checked.file_ids or checked.shared is not None:
                result = await self.store.write(sql.messages.post, checked, authorize=policy)
            else:  # run in bulk with the batch's other plain posts (one read for them all)
                result = await self.store.write_bulk(sql.messages.post_plain, (checked, policy))
        except (NotFound, Conflict, ValueError) as exc:
            raise _refusal(exc) from None
        await self.hooks.run(result)
        return result

    async def post_many(self, drafts: Sequence[Draft]) -> list[Outcome[PostResult]]:
        """Plain posts of one author (as :meth:`post` with no options), written by one
        store operation in one write batch (:func:`parley.store.sql.messages.post_plain_many`:
        bulk reads and inserts) in order; each one's outcome, in order. A refused draft
        writes nothing and does not stop the others."""
        outcomes: list[Outcome[PostResult] | None] = []
        checked: list[Draft] = []
        for draft in drafts:
            try:
                checked.append(self._check(draft))
            except ClientError as exc:
                outcomes.append(Error(exc))
                continue
            outcomes.append(None)
        written: list[Outcome[PostResult]] = []
        if checked:
            try:
                written = await self.store.write(
                    sql.messages.post_plain_many, checked, authorize=post_policy()
                )
            except Exception as exc:  # the store failed them all (an outage)
                written = [Error(exc) for _ in checked]
        results: list[Outcome[PostResult]] = []
        pending = iter(written)
        for slot in outcomes:
            if slot is not None:
                results.append(slot)
                continue
            got = next(pending)
            if isinstance(got, Error) and isinstance(got.error, (NotFound, Conflict, ValueError)):
                got = Error(_refusal(got.error))
            elif isinstance(got, Value):
                await self.hooks.run(got.value)
            results.append(got)
        return results

    @staticmethod
    def _check(draft: Draft, *, allow_empty: bool = False, checked_text: bool = False) -> Draft:
        """The draft as written: its input checked (ClientError), its key normalised."""
        if not checked_text and not (allow_empty and draft.text == ""):
            content.check_rich_text(rules.check_text(draft.text))
        key = rules.check_idempotency_key(draft.idempotency_key)
        if not rules.is_clean(draft.channel_id):  # could not exist; PostgreSQL refuses NUL
            raise no_channel()
        if not all(isinstance(f, str) and rules.is_clean(f) for f in draft.file_ids):
            raise rules.bad("file ids must be strings")
        if draft.thread_root is not None and not rules.is_clean(draft.thread_root):
            raise ClientError(ErrorCode.NOT_FOUND, "no such message")
        return draft if key == draft.idempotency_key else replace(draft, idempotency_key=key)


def _refusal(exc: NotFound | Conflict | ValueError) -> ClientError:
    """The client's answer to a post the store refused."""
    if isinstance(exc, NotFound):
        what = str(exc)
        if what.startswith("channel"):
            return no_channel()  # no channel, or not a member: one answer
        message = what if what.startswith("no such") else f"no such {what}"
        return ClientError(ErrorCode.NOT_FOUND, message)
    if isinstance(exc, Conflict):
        return ClientError(ErrorCode.CONFLICT, str(exc) or "conflict")
    return rules.bad(str(exc))


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
