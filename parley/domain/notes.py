"""Notes: collaborative Markdown documents of a channel (its members read and write them,
the channel's access rules) or of one user (private to them). Every change is a new
version; an edit names the version it is based on, and a stale one is refused with
``conflict`` carrying the current note. A channel note's changes are channel-log events
(``note_created`` / ``note_edited`` / ``note_deleted``, with seq: live and recoverable);
a user note's are pushed on the owner's topic (docs/notes-locks.md)."""

from __future__ import annotations

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.events import EventName
from parley.core.ports import EventSink
from parley.core.records import Note, NoteVersion, note_data
from parley.core.topics import note_topic
from parley.domain import access, content, rules
from parley.store import Store, sql
from parley.store.errors import Stale

ONLY_WRITERS = "only owners and admins write notes in a broadcast channel"
ONLY_DELETERS = "only the note's creator or a channel owner/admin deletes it"


def _check_version(version: object) -> int:
    if (
        not isinstance(version, int)
        or isinstance(version, bool)
        or not 1 <= version <= rules.MAX_SEQ
    ):
        raise rules.bad(f"base_version must be an integer from 1 to {rules.MAX_SEQ}")
    return version


class NoteService:
    def __init__(self, store: Store, sink: EventSink) -> None:
        self.store = store
        self.sink = sink

    async def create_note(
        self, org: str, user_id: str, channel_id: str | None, *, title: str, body: str
    ) -> Note:
        """A note of the channel (members; in a broadcast channel owners and admins), or
        with ``channel_id`` None, a note of the caller's own."""
        title = content.check_title(title)
        body = content.check_note_body(body)
        if channel_id is not None:
            channel, member = await access.membership(self.store, org, user_id, channel_id)
            if not rules.can_post(channel.kind, member.role):
                raise access.forbidden(ONLY_WRITERS)
        async with access.store_errors("channel"):
            note, _ = await self.store.write(
                sql.notes.create_note,
                org,
                channel_id=channel_id,
                owner=None if channel_id is not None else user_id,
                title=title,
                body=body,
                author=user_id,
            )
        self._push_own(note, EventName.NOTE_CREATED)
        return note

    async def note(self, org: str, user_id: str, note_id: str) -> Note:
        """A note of a channel the caller is a member of, or their own; else ``not_found``."""
        note = None
        if rules.is_clean(note_id):
            note = await self.store.read(sql.notes.get_note, org, note_id)
        if note is None or not await self.can_read(org, user_id, note):
            raise access.not_found("note")
        return note

    async def can_read(self, org: str, user_id: str, note: Note) -> bool:
        if note.channel_id is None:
            return note.owner == user_id
        return await access.is_member(self.store, org, note.channel_id, user_id)

    async def edit_note(
        self,
        org: str,
        user_id: str,
        note_id: str,
        *,
        base_version: int,
        title: str | None,
        body: str | None,
    ) -> Note:
        """The next version, if ``base_version`` is current; a stale one is a ``conflict``
        whose ``details.current`` is the note as it is now."""
        base = _check_version(base_version)
        title = None if title is None else content.check_title(title)
        body = None if body is None else content.check_note_body(body)
        note = await self.note(org, user_id, note_id)
        await self._check_writer(org, user_id, note)
        async with access.store_errors("note"):
            try:
                new, _ = await self.store.write(
                    sql.notes.edit_note,
                    org,
                    note_id,
                    base_version=base,
                    title=title,
                    body=body,
                    author=user_id,
                )
            except Stale as exc:  # before store_errors: it is a Conflict with facts
                raise _stale(exc) from None
        self._push_own(new, EventName.NOTE_EDITED)
        return new

    async def delete_note(self, org: str, user_id: str, note_id: str) -> Note:
        """The creator or a channel owner/admin deletes (the owner, a user note)."""
        note = await self.note(org, user_id, note_id)
        if note.channel_id is not None and user_id != note.created_by:
            member = await self.store.read(sql.members.get_member, org, note.channel_id, user_id)
            if not access.is_moderator(member):
                raise access.forbidden(ONLY_DELETERS)
        async with access.store_errors("note"):
            gone, _ = await self.store.write(sql.notes.delete_note, org, note_id, user_id)
        self._push_own(gone, EventName.NOTE_DELETED)
        return gone

    async def channel_notes(
        self, org: str, user_id: str, channel_id: str, *, limit: int | None
    ) -> list[Note]:
        await access.membership(self.store, org, user_id, channel_id)
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        return await self.store.read(sql.notes.channel_notes, org, channel_id, limit=n)

    async def my_notes(self, org: str, user_id: str, *, limit: int | None) -> list[Note]:
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        return await self.store.read(sql.notes.user_notes, org, user_id, limit=n)

    async def versions(self, org: str, user_id: str, note_id: str) -> list[NoteVersion]:
        await self.note(org, user_id, note_id)
        return await self.store.read(sql.notes.versions, org, note_id)

    async def _check_writer(self, org: str, user_id: str, note: Note) -> None:
        if note.channel_id is None:
            return
        channel, member = await access.membership(self.store, org, user_id, note.channel_id)
        if not rules.can_post(channel.kind, member.role):
            raise access.forbidden(ONLY_WRITERS)

    def _push_own(self, note: Note, event: EventName) -> None:
        """A user note's change, to the owner's connections (channel notes go through the
        log and the store's commit listener)."""
        if note.owner is not None:
            data = note_data(note) if event is not EventName.NOTE_DELETED else {"id": note.id}
            self.sink.publish(note_topic(note.org, event.value, note.owner), data)


def _stale(exc: Stale) -> ClientError:
    current = exc.current
    details = {"current": note_data(current)} if isinstance(current, Note) else None
    version = current.version if isinstance(current, Note) else "?"
    return ClientError(
        ErrorCode.CONFLICT,
        f"the note changed: it is at version {version}; edit that version",
        details=details,
    )
