"""The node registry SQL on both backends: live nodes by heartbeat, a restarted node
replacing its own earlier row, long-dead rows forgotten, deregistration."""

from __future__ import annotations

from parley.store import SqlStore, codec, sql


async def test_registry(store: SqlStore) -> None:
    now = codec.now_us()
    write, read = store.write, store.read
    await write(sql.nodes.register, "n1", "h|/a|1|2", "h:1", bus=True, forget_before_us=0)
    await write(sql.nodes.register, "n2", "h|/b|1|2", "h:2", bus=False, forget_before_us=0)
    live = await read(sql.nodes.live_nodes, since_us=now - 1_000_000)
    assert [(n.node_id, n.host, n.bus) for n in live] == [("n1", "h:1", True), ("n2", "h:2", False)]
    # the view of a restarted n2: itself excluded, then its row replaced
    others = await read(sql.nodes.live_nodes, since_us=now - 1_000_000, other_than="h|/b|1|2")
    assert [n.node_id for n in others] == ["n1"]
    await write(sql.nodes.register, "n3", "h|/b|1|2", "h:3", bus=False, forget_before_us=0)
    live = await read(sql.nodes.live_nodes, since_us=0)
    assert [n.node_id for n in live] == ["n1", "n3"]
    # heartbeats keep a node live; an old heartbeat is dead, then forgotten
    await write(sql.nodes.heartbeat, "n1")
    assert [n.node_id for n in await read(sql.nodes.live_nodes, since_us=codec.now_us())] == []
    beat = (await read(sql.nodes.live_nodes, since_us=0))[0].heartbeat_at_us
    assert beat >= now
    await write(
        sql.nodes.register, "n4", "h|/c|1|2", "h:4", bus=True, forget_before_us=codec.now_us()
    )
    assert [n.node_id for n in await read(sql.nodes.live_nodes, since_us=0)] == ["n4"]
    await write(sql.nodes.deregister, "n4")
    assert await read(sql.nodes.live_nodes, since_us=0) == []
