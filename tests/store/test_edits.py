"""Redaction reaches the log: after an edit every logged event of the message carries its
current text, after a delete none carries any text, and shares of a deleted message keep no
snapshot of it; databases from before schema v4 are rewritten the same way. Both backends."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from parley.core.records import ChannelKind, Draft
from parley.store import SqlStore, migrator, open_store, sql
from parley.store.db import Db
from tests.support.store import anyone, post_message

ORG = "acme"
SECRET = "the password is hunter2"


async def group(store: SqlStore) -> str:
    ch, _ = await store.write(
        sql.channels.create_channel,
        org=ORG,
        kind=ChannelKind.GROUP,
        name="g",
        topic="",
        created_by="alice",
        members=["bob"],
    )
    return ch.id


async def logged(store: SqlStore, channel_id: str) -> list[dict[str, Any]]:
    return [e.data for e in await store.read(sql.log.events_after, ORG, channel_id, 0, limit=100)]


def mentions(events: list[dict[str, Any]], word: str) -> bool:
    return any(word in json.dumps(e) for e in events)


async def test_an_edit_leaves_only_the_current_text_in_the_log(store: SqlStore) -> None:
    cid = await group(store)
    posted = await post_message(store, ORG, cid, author="alice", text=SECRET)
    mid = posted.message.id
    await store.write(sql.edits.edit_message, ORG, cid, mid, text="first edit", actor="alice")
    await store.write(sql.edits.edit_message, ORG, cid, mid, text="rotated", actor="alice")
    events = await logged(store, cid)
    assert not mentions(events, "hunter2") and not mentions(events, "first edit")
    carrying = [e for e in events if e.get("id") == mid]
    assert [e["text"] for e in carrying] == ["rotated"] * 3  # posted, edited, edited
    assert all(e["edited_at"] is not None for e in carrying)
    # the versions themselves are kept for those who may see them
    versions = await store.read(sql.edits.message_versions, ORG, mid)
    assert [v.text for v in versions] == [SECRET, "first edit"]


async def test_a_delete_leaves_no_text_in_the_log(store: SqlStore) -> None:
    cid = await group(store)
    mid = (await post_message(store, ORG, cid, author="alice", text=SECRET)).message.id
    await store.write(sql.edits.edit_message, ORG, cid, mid, text="still secret", actor="alice")
    await store.write(sql.edits.delete_message, ORG, cid, mid, actor="alice")
    events = await logged(store, cid)
    assert not mentions(events, "hunter2") and not mentions(events, "still secret")
    carrying = [e for e in events if e.get("id") == mid and "text" in e]
    assert [(e["text"], e["deleted"]) for e in carrying] == [("", True), ("", True)]
    assert await store.read(sql.edits.message_versions, ORG, mid) == []


async def test_shares_of_a_deleted_message_keep_no_snapshot(store: SqlStore) -> None:
    src, dst = await group(store), await group(store)
    original = (await post_message(store, ORG, src, author="alice", text=SECRET)).message
    shared = {
        "channel_id": src,
        "message_id": original.id,
        "seq": original.seq,
        "author": "alice",
        "text": original.text,
        "created_at": "2026-01-01T00:00:00.000000Z",
    }
    draft = Draft(ORG, dst, "bob", "look", shared=shared)
    share = await store.write(sql.messages.post, draft, authorize=anyone)
    assert mentions(await logged(store, dst), "hunter2")
    await store.write(sql.edits.delete_message, ORG, src, original.id, actor="alice")
    assert not mentions(await logged(store, dst), "hunter2")
    metas = await store.read(sql.messages.message_metas, ORG, [share.message.id])
    snapshot = metas[share.message.id].shared
    assert snapshot is not None and snapshot["text"] == "" and snapshot["deleted"] is True
    # the share itself (bob's comment) is untouched
    assert [e["text"] for e in await logged(store, dst) if e.get("id") == share.message.id] == [
        "look"
    ]


async def test_a_pre_v4_log_is_redacted_by_the_migration(fresh_url: Callable[[], str]) -> None:
    """Rows written before schema v4 (no message_id column) are found and rewritten."""
    url = fresh_url()
    dialect = "postgres" if url.startswith("postgres") else "sqlite"
    v3 = migrator.load(dialect)[:3]
    async with open_store(url) as store:
        await store.writer.exclusive(lambda db: db.migrate(v3))

        def old_rows(db: Db) -> None:
            db.begin(write=True)
            db.run(
                "INSERT INTO channels (org, id, kind, name, topic, created_by, created_at_us,"
                " member_count, last_seq, last_activity_us) VALUES"
                " ('acme', 'ch_1', 'group', 'g', '', 'alice', 1, 1, 4, 1)"
            )
            for mid, seq, text, deleted, edited in (
                ("msg_a", 1, "", True, None),  # deleted: it said SECRET
                ("msg_b", 2, "now", False, 5),  # edited: it said "before"
            ):
                db.run(
                    "INSERT INTO messages (org, channel_id, seq, id, author, text, created_at_us,"
                    " deleted, edited_at_us) VALUES ('acme', 'ch_1', ?, ?, 'alice', ?, 1, ?, ?)",
                    (seq, mid, text, deleted, edited),
                )
            for seq, event, data in (
                (1, "message_posted", {"id": "msg_a", "text": SECRET, "deleted": False}),
                (2, "message_posted", {"id": "msg_b", "text": "before", "deleted": False}),
                (3, "message_edited", {"id": "msg_b", "text": "now", "deleted": False}),
                (4, "message_deleted", {"id": "msg_a", "seq": 1}),
            ):
                db.run(
                    "INSERT INTO channel_events (org, channel_id, seq, event, data, ts_us, actor)"
                    " VALUES ('acme', 'ch_1', ?, ?, ?, 1, 'alice')",
                    (seq, event, json.dumps(data)),
                )
            db.commit()

        await store.writer.exclusive(old_rows)
        assert await store.migrate() == len(migrator.load(dialect))
        events = await logged(store, "ch_1")
        assert not mentions(events, "hunter2") and not mentions(events, "before")
        assert [(e.get("id"), e.get("text"), e.get("deleted")) for e in events] == [
            ("msg_a", "", True),
            ("msg_b", "now", False),
            ("msg_b", "now", False),
            ("msg_a", None, None),
        ]
