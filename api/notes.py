"""Notes: ``/v1/channels/{id}/notes`` (a channel's), ``/v1/notes`` (my own), and
``/v1/notes/{id}`` (read, edit with ``base_version``, delete, versions)."""

from __future__ import annotations

from quart_schema import tag_blueprint, validate_querystring, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import Body, ErrorOut, Out, Query, Timestamp
from parley.core.records import Note, NoteVersion
from parley.core.times import rfc3339


class NoteIn(Body):
    title: str
    #: Markdown: the message subset plus headings and lists (docs/notes-locks.md).
    body: str = ""


class NoteEditIn(Body):
    #: The version this edit is based on; a stale one is 409 with the current note.
    base_version: int
    title: str | None = None
    body: str | None = None


class NoteOut(Out):
    id: str
    channel: str | None = None
    owner: str | None = None
    title: str
    body: str
    version: int
    authors: list[str]
    created_by: str
    created_at: Timestamp
    updated_by: str
    updated_at: Timestamp

    @classmethod
    def of(cls, n: Note) -> NoteOut:
        return cls(
            id=n.id,
            channel=n.channel_id,
            owner=n.owner,
            title=n.title,
            body=n.body,
            version=n.version,
            authors=list(n.authors),
            created_by=n.created_by,
            created_at=rfc3339(n.created_at),
            updated_by=n.updated_by,
            updated_at=rfc3339(n.updated_at),
        )


class NoteListOut(Out):
    items: list[NoteOut]


class NoteVersionOut(Out):
    version: int
    title: str
    body: str
    author: str
    at: Timestamp

    @classmethod
    def of(cls, v: NoteVersion) -> NoteVersionOut:
        return cls(version=v.version, title=v.title, body=v.body, author=v.author, at=rfc3339(v.at))


class NoteVersionListOut(Out):
    items: list[NoteVersionOut]


class LimitQuery(Query):
    limit: int | None = None


bp = authenticated_blueprint("notes", __name__)
tag_blueprint(bp, ["notes"])


@bp.post("/channels/<channel_id>/notes")
@validate_request(NoteIn)
@validate_response(NoteOut, 201)
@validate_response(ErrorOut, 404)
async def create_channel_note(channel_id: str, data: NoteIn) -> tuple[NoteOut, int]:
    """A note of the channel (members; in a broadcast channel owners and admins)."""
    c = claims()
    note = await services().notes.create_note(
        c.org, c.sub, channel_id, title=data.title, body=data.body
    )
    return NoteOut.of(note), 201


@bp.get("/channels/<channel_id>/notes")
@validate_querystring(LimitQuery)
@validate_response(NoteListOut)
@validate_response(ErrorOut, 404)
async def list_channel_notes(channel_id: str, query_args: LimitQuery) -> NoteListOut:
    """The channel's notes, last changed first."""
    c = claims()
    notes = await services().notes.channel_notes(c.org, c.sub, channel_id, limit=query_args.limit)
    return NoteListOut(items=[NoteOut.of(n) for n in notes])


@bp.post("/notes")
@validate_request(NoteIn)
@validate_response(NoteOut, 201)
async def create_my_note(data: NoteIn) -> tuple[NoteOut, int]:
    """A note of my own (only I read it)."""
    c = claims()
    note = await services().notes.create_note(c.org, c.sub, None, title=data.title, body=data.body)
    return NoteOut.of(note), 201


@bp.get("/notes")
@validate_querystring(LimitQuery)
@validate_response(NoteListOut)
async def list_my_notes(query_args: LimitQuery) -> NoteListOut:
    """My own notes, last changed first."""
    c = claims()
    notes = await services().notes.my_notes(c.org, c.sub, limit=query_args.limit)
    return NoteListOut(items=[NoteOut.of(n) for n in notes])


@bp.get("/notes/<note_id>")
@validate_response(NoteOut)
@validate_response(ErrorOut, 404)
async def get_note(note_id: str) -> NoteOut:
    """A note of a channel I am in, or my own."""
    c = claims()
    return NoteOut.of(await services().notes.note(c.org, c.sub, note_id))


@bp.patch("/notes/<note_id>")
@validate_request(NoteEditIn)
@validate_response(NoteOut)
@validate_response(ErrorOut, 409)
async def edit_note(note_id: str, data: NoteEditIn) -> NoteOut:
    """The next version; 409 ``conflict`` if ``base_version`` is not the current one
    (``error.details.current`` is the note as it is now)."""
    c = claims()
    note = await services().notes.edit_note(
        c.org, c.sub, note_id, base_version=data.base_version, title=data.title, body=data.body
    )
    return NoteOut.of(note)


@bp.delete("/notes/<note_id>")
@validate_response(NoteOut)
@validate_response(ErrorOut, 403)
async def delete_note(note_id: str) -> NoteOut:
    """The creator or a channel owner/admin deletes; returns the note as it was."""
    c = claims()
    return NoteOut.of(await services().notes.delete_note(c.org, c.sub, note_id))


@bp.get("/notes/<note_id>/versions")
@validate_response(NoteVersionListOut)
@validate_response(ErrorOut, 404)
async def note_versions(note_id: str) -> NoteVersionListOut:
    """Every version, oldest first."""
    c = claims()
    versions = await services().notes.versions(c.org, c.sub, note_id)
    return NoteVersionListOut(items=[NoteVersionOut.of(v) for v in versions])
