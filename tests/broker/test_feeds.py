"""In-process hub subscribers (the GraphQL subscriptions' feeds): the same membership
filter and user topics as a WebSocket connection, the channel set loaded once per user,
a slow reader dropped, and ``text_payloads`` reading back what ``text_frame`` built."""

from __future__ import annotations

import pytest

from parley.broker.feeds import HubFeeds
from parley.broker.frames import text_frame, text_payloads
from parley.broker.hub import Hub
from parley.core.codes import CloseCode
from parley.core.topics import mention_topic
from tests.support.broker import ORG, claims, event, make_conn


def test_text_payloads_reads_back_every_frame_length() -> None:
    payloads = [b"x" * n for n in (0, 1, 125, 126, 65535, 65536, 70000)]
    assert text_payloads(b"".join(text_frame(p) for p in payloads)) == payloads
    with pytest.raises(ValueError):
        text_payloads(b"\x01\x00")
    with pytest.raises(ValueError):
        text_payloads(text_frame(b"abc")[:-1])


async def test_a_feed_gets_channel_events_of_its_channels_only() -> None:
    hub = Hub()
    loads: list[str] = []

    async def channels() -> set[str]:
        loads.append("bob")
        return {"c1"}

    feeds = HubFeeds(hub)
    feed = await feeds.open_feed(claims("bob"), channels)
    second = await feeds.open_feed(claims("bob"), channels)
    assert loads == ["bob"]  # the hub knew bob's channels the second time
    assert hub.connections_of(ORG, "bob") == 2
    feed.subscribe(f"events.{ORG}.conversations.>")
    feed.subscribe(f"events.{ORG}.users.>")
    hub.publish_channel_events([event("c2", 1), event("c1", 1)])
    hub.publish(mention_topic(ORG, "carol"), {"for": "carol"})
    hub.publish(mention_topic(ORG, "bob"), {"for": "bob"})
    got = await feed.receive()
    assert got is not None
    assert (got[0]["channel"], got[0]["seq"]) == ("c1", 1)  # not c2: bob is not in it
    assert [f["data"] for f in got[1:]] == [{"for": "bob"}]
    assert feed.unsubscribe(f"events.{ORG}.users.>") is True
    feed.close()
    second.close()
    assert await feed.receive() is None
    assert hub.connections_of(ORG, "bob") == 0 and hub.subscription_count == 0


async def test_a_slow_feed_is_closed_not_waited_for() -> None:
    hub = Hub()

    async def channels() -> set[str]:
        return {"c1"}

    feed = await HubFeeds(hub, max_frames=2).open_feed(claims("bob"), channels)
    feed.subscribe(f"events.{ORG}.conversations.>")
    other = make_conn("bob")
    hub.attach(other.client, loading=False)
    hub.publish_channel_events([event("c1", n) for n in (1, 2, 3)])
    assert feed.closed_by is CloseCode.SLOW_CONSUMER
    assert await feed.receive() is None
    feed.close()  # the reader's close, once it saw the end
    assert hub.connections_of(ORG, "bob") == 1  # only the other connection is left
