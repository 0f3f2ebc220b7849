"""Notes: create, edit with optimistic concurrency, versions, authors, delete, who may,
and the channel-log events that make them live and recoverable."""

from __future__ import annotations

import pytest

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.domain.services import Services
from tests.support.api import RecordingSink
from tests.support.features import channel, log, refused


async def test_channel_note_lifecycle(svc: Services, sink: RecordingSink, org: str) -> None:
    cid = await channel(svc, org)
    note = await svc.notes.create_note(org, "alice", cid, title=" Plan ", body="# Goals\n- ship")
    assert (note.title, note.version, note.authors, note.channel_id) == ("Plan", 1, ("alice",), cid)
    edited = await svc.notes.edit_note(
        org, "bob", note.id, base_version=1, title=None, body="# Goals\n- ship\n- test"
    )
    assert (edited.version, edited.title, edited.authors) == (2, "Plan", ("alice", "bob"))
    assert edited.updated_by == "bob" and edited.created_by == "alice"
    with pytest.raises(ClientError) as exc:  # carol edits from version 1: stale
        await svc.notes.edit_note(org, "carol", note.id, base_version=1, title="X", body=None)
    assert exc.value.code is ErrorCode.CONFLICT and "version 2" in exc.value.message
    assert exc.value.details is not None
    assert exc.value.details["current"]["version"] == 2
    assert exc.value.details["current"]["body"] == "# Goals\n- ship\n- test"
    again = await svc.notes.edit_note(org, "alice", note.id, base_version=2, title="P2", body=None)
    assert [v.version for v in await svc.notes.versions(org, "carol", note.id)] == [1, 2, 3]
    assert [v.author for v in await svc.notes.versions(org, "carol", note.id)] == [
        "alice",
        "bob",
        "alice",
    ]
    assert again.authors == ("alice", "bob")
    assert [n.id for n in await svc.notes.channel_notes(org, "bob", cid, limit=None)] == [note.id]
    events = [e for e in sink.channel_events if e.channel_id == cid][-3:]
    assert [str(e.event) for e in events] == ["note_created", "note_edited", "note_edited"]
    assert events[-1].data["version"] == 3 and events[-1].data["title"] == "P2"
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    # replay: the same events come back from the log (recovery)
    replay = await svc.channels.events_after(org, "bob", cid, events[0].seq - 1, limit=10)
    assert [str(e.event) for e in replay] == ["note_created", "note_edited", "note_edited"]
    await refused(ErrorCode.FORBIDDEN, svc.notes.delete_note(org, "bob", note.id))
    gone = await svc.notes.delete_note(org, "alice", note.id)
    assert gone.id == note.id and log(sink, cid)[-1][1] == "note_deleted"
    await refused(ErrorCode.NOT_FOUND, svc.notes.note(org, "alice", note.id))
    await refused(ErrorCode.NOT_FOUND, svc.notes.versions(org, "alice", note.id))


async def test_note_refusals(svc: Services, sink: RecordingSink, org: str) -> None:
    cid = await channel(svc, org)
    note = await svc.notes.create_note(org, "alice", cid, title="T", body="")
    # a non-member and another org get the same answer as no such note
    for o, user in ((org, "eve"), ("globex", "alice")):
        await refused(ErrorCode.NOT_FOUND, svc.notes.note(o, user, note.id))
        await refused(
            ErrorCode.NOT_FOUND,
            svc.notes.edit_note(o, user, note.id, base_version=1, title="x", body=None),
        )
        await refused(ErrorCode.NOT_FOUND, svc.notes.delete_note(o, user, note.id))
    await refused(ErrorCode.NOT_FOUND, svc.notes.channel_notes(org, "eve", cid, limit=None))
    await refused(ErrorCode.NOT_FOUND, svc.notes.create_note(org, "eve", cid, title="t", body=""))
    await refused(ErrorCode.NOT_FOUND, svc.notes.note(org, "alice", "nope\x00"))
    bad = [("", "x"), ("t", "####### too deep"), ("t", "```\nopen"), ("t", "#")]
    for title, body in bad:
        await refused(
            ErrorCode.BAD_REQUEST, svc.notes.create_note(org, "alice", cid, title=title, body=body)
        )
    await refused(
        ErrorCode.PAYLOAD_TOO_LARGE,
        svc.notes.create_note(org, "alice", cid, title="t", body="x" * (64 * 1024 + 1)),
    )
    for base in (0, -1, True, 2**63):
        await refused(
            ErrorCode.BAD_REQUEST,
            svc.notes.edit_note(org, "alice", note.id, base_version=base, title="x", body=None),
        )
    # a broadcast channel: members read, owners and admins write
    bc = await svc.channels.create_channel(
        org, "alice", kind="broadcast", name="news", members=["bob"]
    )
    await refused(ErrorCode.FORBIDDEN, svc.notes.create_note(org, "bob", bc.id, title="t", body=""))
    news = await svc.notes.create_note(org, "alice", bc.id, title="t", body="")
    assert (await svc.notes.note(org, "bob", news.id)).id == news.id
    await refused(
        ErrorCode.FORBIDDEN,
        svc.notes.edit_note(org, "bob", news.id, base_version=1, title="x", body=None),
    )


async def test_user_notes_are_private(svc: Services, sink: RecordingSink, org: str) -> None:
    mine = await svc.notes.create_note(org, "alice", None, title="todo", body="1. a\n2. b")
    assert (mine.owner, mine.channel_id) == ("alice", None)
    assert [n.id for n in await svc.notes.my_notes(org, "alice", limit=None)] == [mine.id]
    assert await svc.notes.my_notes(org, "bob", limit=None) == []
    await refused(ErrorCode.NOT_FOUND, svc.notes.note(org, "bob", mine.id))
    await svc.notes.edit_note(org, "alice", mine.id, base_version=1, title=None, body="done")
    topics = [t for t, _ in sink.published]
    assert topics == [
        f"events.{org}.users.note.note_created.alice",
        f"events.{org}.users.note.note_edited.alice",
    ]
    assert sink.channel_events == []  # no channel: no log event
