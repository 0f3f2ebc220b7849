"""Retention and block SQL on both backends: the period in force is the shorter of the
org's and the channel's; expired messages are tombstoned oldest first in batches, with
their logged text; ``blockers_of`` answers for the blocked user."""

from __future__ import annotations

import json
import secrets

from parley.core.records import ChannelKind
from parley.store import SqlStore, codec, sql
from parley.store.sql.retention import ORG_WIDE
from tests.support.store import post_message


async def test_periods_and_redaction(store: SqlStore) -> None:
    org = "o" + secrets.token_hex(4)

    async def group(name: str) -> str:
        ch, _ = await store.write(
            sql.channels.create_channel,
            org=org,
            kind=ChannelKind.GROUP,
            name=name,
            topic="",
            created_by="alice",
            members=[],
        )
        return ch.id

    a, b = await group("a"), await group("b")
    write = store.write
    await write(sql.retention.set_retention, org, a, 7200, actor="alice")
    mine = [p for p in await store.read(sql.retention.channel_periods) if p[0] == org]
    assert mine == [(org, a, 7200)]
    await write(sql.retention.set_retention, org, ORG_WIDE, 3600, actor="ops")
    await write(sql.retention.set_retention, org, b, 86400, actor="alice")
    mine = [p for p in await store.read(sql.retention.channel_periods) if p[0] == org]
    assert sorted(mine) == sorted([(org, a, 3600), (org, b, 3600)])
    assert await store.read(sql.retention.retention_of, org, b) == (3600, 86400)
    await write(sql.retention.set_retention, org, b, None, actor="alice")
    assert await store.read(sql.retention.retention_of, org, b) == (3600, None)

    posted = [
        await post_message(store, org, a, author="alice", text=f"secret {i}") for i in range(3)
    ]
    after = codec.now_us() + 1
    n, keys = await write(sql.retention.redact_expired, org, a, before_us=after, limit=2)
    assert (n, keys) == (2, [])
    assert await write(sql.retention.redact_expired, org, a, before_us=after, limit=2) == (1, [])
    assert await write(sql.retention.redact_expired, org, a, before_us=after, limit=2) == (0, [])
    for p in posted:
        msg = await store.read(sql.messages.get_message, org, a, p.message.id)
        assert msg is not None and msg.deleted and msg.text == ""
    events = await store.read(sql.log.events_after, org, a, 0, limit=50)
    assert "secret" not in json.dumps([e.data for e in events])


async def test_blockers_of(store: SqlStore) -> None:
    org = "o" + secrets.token_hex(4)
    assert await store.write(sql.blocks.set_block, org, "alice", "mallory", on=True)
    assert not await store.write(sql.blocks.set_block, org, "alice", "mallory", on=True)
    await store.write(sql.blocks.set_block, org, "bob", "mallory", on=True)
    found = await store.read(sql.blocks.blockers_of, org, "mallory", ["alice", "carol"])
    assert found == {"alice"}
    assert await store.read(sql.blocks.blockers_of, "other", "mallory", ["alice"]) == set()
    assert await store.read(sql.blocks.blocked_ids, org, "alice") == {"mallory"}
    assert await store.write(sql.blocks.set_block, org, "alice", "mallory", on=False)
    assert await store.read(sql.blocks.blocked_ids, org, "alice") == set()
