"""Notes: collaborative documents of a channel (channel-log events) or of one user, with
every version kept; an edit names the version it is based on (:class:`Stale` if it is no
longer the current one)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from parley.core.events import EventName
from parley.core.records import ChannelEvent, Note, NoteVersion, note_data
from parley.store import codec
from parley.store.db import Db
from parley.store.errors import NotFound, Stale
from parley.store.ids import new_id
from parley.store.sql.log import append_event
from parley.store.writetx import WriteTx

NOTE_COLS = (
    "n.id, n.org, n.channel_id, n.owner, n.title, n.body, n.version, n.created_by,"
    " n.created_at_us, n.updated_by, n.updated_at_us"
)


def _note(row: codec.Row, authors: Sequence[str] = ()) -> Note:
    return Note(
        id=row[0],
        org=row[1],
        channel_id=row[2],
        owner=row[3],
        title=row[4],
        body=row[5],
        version=int(row[6]),
        created_by=row[7],
        created_at=codec.from_us(row[8]),
        updated_by=row[9],
        updated_at=codec.from_us(row[10]),
        authors=tuple(authors),
    )


def _authors(db: Db, org: str, note_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each note's authors in order of their first version (one query for many notes)."""
    out: dict[str, list[str]] = {n: [] for n in note_ids}
    if not note_ids:
        return out
    rows = db.all(
        "SELECT note_id, author, MIN(version) AS first FROM note_versions"
        f" WHERE org = ? AND note_id IN ({codec.placeholders(len(note_ids))})"
        " GROUP BY note_id, author ORDER BY note_id, first",
        (org, *note_ids),
    )
    for note_id, author, _ in rows:
        out[note_id].append(author)
    return out


def _with_authors(db: Db, org: str, rows: Sequence[codec.Row]) -> list[Note]:
    authors = _authors(db, org, [r[0] for r in rows])
    return [_note(r, authors[r[0]]) for r in rows]


def _locked_note(tx: WriteTx, org: str, note_id: str) -> Note:
    """The note, its channel row locked first (so seqs and versions move together)."""
    row = tx.db.one(f"SELECT {NOTE_COLS} FROM notes n WHERE n.org = ? AND n.id = ?", (org, note_id))
    if row is None:
        raise NotFound("no such note")
    note = _note(row)
    if note.channel_id is not None:
        tx.last_seq(org, note.channel_id)
    row = tx.db.one(
        f"SELECT {NOTE_COLS} FROM notes n WHERE n.org = ? AND n.id = ?{tx.db.for_update}",
        (org, note_id),
    )
    if row is None:
        raise NotFound("no such note")
    return _with_authors(tx.db, org, [row])[0]


def _event(tx: WriteTx, note: Note, name: EventName, now: int, actor: str) -> ChannelEvent | None:
    if note.channel_id is None:
        return None
    seq = tx.next_seq(note.org, note.channel_id, activity_us=None)
    data = note_data(note) if name is not EventName.NOTE_DELETED else {"id": note.id}
    return append_event(tx, note.org, note.channel_id, seq, name, data, now, actor)


def create_note(
    tx: WriteTx,
    org: str,
    *,
    channel_id: str | None,
    owner: str | None,
    title: str,
    body: str,
    author: str,
) -> tuple[Note, ChannelEvent | None]:
    """A channel note (``channel_id``: a ``note_created`` event) or a user's (``owner``)."""
    codec.check_text(title, body)
    if channel_id is not None:
        tx.last_seq(org, channel_id)  # NotFound without the channel; locks its row
    now = codec.now_us()
    at = codec.from_us(now)
    note = Note(
        id=new_id("note"),
        org=org,
        channel_id=channel_id,
        owner=owner,
        title=title,
        body=body,
        version=1,
        created_by=author,
        created_at=at,
        updated_by=author,
        updated_at=at,
        authors=(author,),
    )
    tx.db.send(
        "INSERT INTO notes (org, id, channel_id, owner, title, body, version, created_by,"
        " created_at_us, updated_by, updated_at_us) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)",
        (org, note.id, channel_id, owner, title, body, author, now, author, now),
    )
    _version(tx, note, now)
    return note, _event(tx, note, EventName.NOTE_CREATED, now, author)


def _version(tx: WriteTx, note: Note, now: int) -> None:
    tx.db.send(
        "INSERT INTO note_versions (org, note_id, version, title, body, author, at_us)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (note.org, note.id, note.version, note.title, note.body, note.updated_by, now),
    )


def edit_note(
    tx: WriteTx,
    org: str,
    note_id: str,
    *,
    base_version: int,
    title: str | None,
    body: str | None,
    author: str,
) -> tuple[Note, ChannelEvent | None]:
    """The next version, if ``base_version`` is the current one (else :class:`Stale`
    carrying the current note). ``None`` keeps the title or body as it is."""
    codec.check_text(title, body)
    note = _locked_note(tx, org, note_id)
    if note.version != base_version:
        raise Stale(f"note {note_id} is at version {note.version}, not {base_version}", note)
    now = codec.now_us()
    authors = note.authors if author in note.authors else (*note.authors, author)
    new = replace(
        note,
        title=note.title if title is None else title,
        body=note.body if body is None else body,
        version=note.version + 1,
        updated_by=author,
        updated_at=codec.from_us(now),
        authors=authors,
    )
    tx.db.send(
        "UPDATE notes SET title = ?, body = ?, version = ?, updated_by = ?, updated_at_us = ?"
        " WHERE org = ? AND id = ?",
        (new.title, new.body, new.version, author, now, org, note_id),
    )
    _version(tx, new, now)
    return new, _event(tx, new, EventName.NOTE_EDITED, now, author)


def delete_note(
    tx: WriteTx, org: str, note_id: str, actor: str
) -> tuple[Note, ChannelEvent | None]:
    """Delete the note and its versions (a ``note_deleted`` event in its channel)."""
    note = _locked_note(tx, org, note_id)
    tx.db.send("DELETE FROM note_versions WHERE org = ? AND note_id = ?", (org, note_id))
    tx.db.send("DELETE FROM notes WHERE org = ? AND id = ?", (org, note_id))
    return note, _event(tx, note, EventName.NOTE_DELETED, codec.now_us(), actor)


def get_note(db: Db, org: str, note_id: str) -> Note | None:
    row = db.one(f"SELECT {NOTE_COLS} FROM notes n WHERE n.org = ? AND n.id = ?", (org, note_id))
    return None if row is None else _with_authors(db, org, [row])[0]


def get_notes(db: Db, org: str, note_ids: Sequence[str]) -> list[Note]:
    """The notes that exist of ``note_ids`` (any order), with their authors: two queries."""
    if not note_ids:
        return []
    rows = db.all(
        f"SELECT {NOTE_COLS} FROM notes n WHERE n.org = ?"
        f" AND n.id IN ({codec.placeholders(len(note_ids))})",
        (org, *note_ids),
    )
    return _with_authors(db, org, rows)


def channel_notes(db: Db, org: str, channel_id: str, *, limit: int) -> list[Note]:
    """A channel's notes, last changed first."""
    rows = db.all(
        f"SELECT {NOTE_COLS} FROM notes n WHERE n.org = ? AND n.channel_id = ?"
        " ORDER BY n.updated_at_us DESC, n.id DESC LIMIT ?",
        (org, channel_id, codec.limit_of(limit)),
    )
    return _with_authors(db, org, rows)


def user_notes(db: Db, org: str, owner: str, *, limit: int) -> list[Note]:
    """A user's own notes, last changed first."""
    rows = db.all(
        f"SELECT {NOTE_COLS} FROM notes n WHERE n.org = ? AND n.owner = ?"
        " ORDER BY n.updated_at_us DESC, n.id DESC LIMIT ?",
        (org, owner, codec.limit_of(limit)),
    )
    return _with_authors(db, org, rows)


def versions(db: Db, org: str, note_id: str) -> list[NoteVersion]:
    """Every version of the note, oldest first."""
    rows = db.all(
        "SELECT note_id, version, title, body, author, at_us FROM note_versions"
        " WHERE org = ? AND note_id = ? ORDER BY version",
        (org, note_id),
    )
    return [NoteVersion(r[0], int(r[1]), r[2], r[3], r[4], codec.from_us(r[5])) for r in rows]
