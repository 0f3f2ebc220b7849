"""Edits and deletes: history, tombstones, who may."""

from __future__ import annotations

from parley.core.codes import ErrorCode
from parley.domain.services import Services
from tests.support.api import RecordingSink
from tests.support.features import channel, log, refused


async def test_edit_history_and_delete(svc: Services, sink: RecordingSink, org: str) -> None:
    cid = await channel(svc, org)
    m = (await svc.messages.post_message(org, "bob", cid, "first")).message
    edited = await svc.edits.edit(org, "bob", cid, m.id, "second **bold**")
    assert edited.text == "second **bold**" and edited.edited_at is not None
    await svc.edits.edit(org, "bob", cid, m.id, "third")
    ev = sink.channel_events[-1]
    assert (ev.event, ev.seq, ev.data["seq"], ev.data["text"]) == ("message_edited", 6, 4, "third")
    assert log(sink, cid)[-3:] == [
        (4, "message_posted"),
        (5, "message_edited"),
        (6, "message_edited"),
    ]
    # The text is edited in place; the message keeps its seq.
    stored = await svc.messages.get_message(org, "carol", cid, m.id)
    assert (stored.text, stored.seq) == ("third", 4)
    for reader in ("bob", "alice"):  # author, channel owner
        current, versions = await svc.edits.versions(org, reader, cid, m.id)
        assert current.text == "third"
        assert [(v.version, v.text) for v in versions] == [(1, "first"), (2, "second **bold**")]
    await refused(ErrorCode.FORBIDDEN, svc.edits.versions(org, "carol", cid, m.id))
    await refused(ErrorCode.FORBIDDEN, svc.edits.edit(org, "carol", cid, m.id, "hijack"))
    await refused(ErrorCode.NOT_FOUND, svc.edits.edit(org, "eve", cid, m.id, "x"))
    await refused(ErrorCode.NOT_FOUND, svc.edits.edit("other", "bob", cid, m.id, "x"))
    await refused(ErrorCode.BAD_REQUEST, svc.edits.edit(org, "bob", cid, m.id, "  "))
    await refused(ErrorCode.FORBIDDEN, svc.edits.delete(org, "carol", cid, m.id))
    await svc.edits.delete(org, "alice", cid, m.id)  # owner deletes another's message
    await svc.edits.delete(org, "alice", cid, m.id)  # again: no second event
    assert log(sink, cid)[-1] == (7, "message_deleted")
    gone = await svc.messages.get_message(org, "bob", cid, m.id)
    assert gone.deleted and gone.text == ""
    await refused(ErrorCode.NOT_FOUND, svc.edits.versions(org, "bob", cid, m.id))
    await refused(ErrorCode.NOT_FOUND, svc.edits.edit(org, "bob", cid, m.id, "back"))
    # Authors delete their own.
    own = (await svc.messages.post_message(org, "carol", cid, "oops")).message
    await svc.edits.delete(org, "carol", cid, own.id)
    assert log(sink, cid)[-1] == (9, "message_deleted")
