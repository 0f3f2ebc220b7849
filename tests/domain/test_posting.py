"""The one post pipeline: a plain post, a reply, a share and a file message each get the
same after-commit steps (mentions, link previews) and the same refusals, on SQLite and
PostgreSQL. A refused post writes nothing and runs no hook."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from parley.app import build_services
from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.records import PostResult
from parley.core.topics import mention_topic
from parley.domain.previews import PreviewConfig
from parley.domain.services import Services
from parley.store import SqlStore, sql
from tests.support.api import RecordingSink, make_settings

TEXT = "for @bob: see https://docs.example/plan"


@dataclass
class Spawned:
    """Stands in for the composition root's nursery: records what previews start."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def __call__(self, fn: Any, *args: Any) -> None:
        self.calls.append(args)


@dataclass
class World:
    svc: Services
    sink: RecordingSink
    spawned: Spawned
    store: SqlStore
    org: str
    channel: str  # a group: alice (owner), bob, carol
    news: str  # a broadcast channel: alice (owner), bob, carol
    source: str  # a group of all three with a message to share
    shared_id: str
    roots: dict[str, str]  # a thread root per channel, for replies


@pytest.fixture
async def world(store: SqlStore, tmp_path: Path) -> AsyncIterator[World]:
    sink = RecordingSink()
    spawned = Spawned()
    settings = replace(
        make_settings(), data_dir=tmp_path, previews=PreviewConfig(hosts=("docs.example",))
    )
    svc = build_services(
        settings, store, sink, verify=settings.token_verifier().verify, spawn=spawned
    )
    org = "o" + secrets.token_hex(4)
    everyone = ["bob", "carol"]
    ids = []
    for kind in ("group", "broadcast", "group"):
        ch = await svc.channels.create_channel(org, "alice", kind=kind, name=kind, members=everyone)
        ids.append(ch.id)
    channel, news, source = ids
    roots = {c: (await svc.messages.post_message(org, "alice", c, "root")).message.id for c in ids}
    spawned.calls.clear()
    sink.published.clear()
    yield World(svc, sink, spawned, store, org, channel, news, source, roots[source], roots)


async def plain(w: World, author: str, channel: str, text: str) -> PostResult:
    return await w.svc.messages.post_message(w.org, author, channel, text)


async def reply(w: World, author: str, channel: str, text: str) -> PostResult:
    root = w.roots.get(channel, "msg_nope")
    return await w.svc.threads.reply(w.org, author, channel, root, text)


async def share(w: World, author: str, channel: str, text: str) -> PostResult:
    return await w.svc.shares.share(w.org, author, w.source, w.shared_id, channel, text)


async def file_message(w: World, author: str, channel: str, text: str) -> PostResult:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"plain text file"

    try:
        att = await w.svc.files.upload(w.org, author, channel, "notes.txt", chunks())
        file_ids = [att.id]
    except ClientError:  # who may not see the channel cannot upload to it either
        file_ids = ["file_nope"]
    result, files = await w.svc.files.post(w.org, author, channel, text, file_ids)
    assert [f.id for f in files] == file_ids
    return result


Post = Callable[[World, str, str, str], Awaitable[PostResult]]
KINDS: dict[str, Post] = {"plain": plain, "reply": reply, "share": share, "file": file_message}


@pytest.mark.parametrize("kind", list(KINDS))
async def test_every_kind_of_post_gets_mentions_and_previews(world: World, kind: str) -> None:
    w = world
    result = await KINDS[kind](w, "carol", w.channel, TEXT)
    assert result.created and result.message.text == TEXT
    # the mention: stored for bob (his unread mentions) and pushed on his own topic
    unread, mentions = await w.store.read(sql.mentions.mentions, w.org, w.channel, "bob")
    assert [m.message_id for m in mentions] == [result.message.id] and unread == 1
    pushes = [d for t, d in w.sink.published if t == mention_topic(w.org, "bob")]
    assert [p["message_id"] for p in pushes] == [result.message.id]
    # the link preview: a fetch of the post's URLs was started in the background
    assert [args[0].message.id for args in w.spawned.calls] == [result.message.id]


async def refused(
    w: World, kind: str, author: str, channel: str, text: str, code: ErrorCode
) -> None:
    before = [await w.store.read(sql.channels.get_channel, w.org, c) for c in w.roots]
    with pytest.raises(ClientError) as exc:
        await KINDS[kind](w, author, channel, text)
    assert exc.value.code is code, exc.value.message
    assert [await w.store.read(sql.channels.get_channel, w.org, c) for c in w.roots] == before
    assert w.spawned.calls == [] and w.sink.published == []  # no hook ran


@pytest.mark.parametrize("kind", list(KINDS))
async def test_every_kind_of_post_gets_the_same_refusals(world: World, kind: str) -> None:
    w = world
    not_found, forbidden = ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN
    await refused(w, kind, "mallory", w.channel, TEXT, not_found)  # not a member
    await refused(w, kind, "carol", "ch_nope", TEXT, not_found)  # no such channel
    await refused(w, kind, "carol", w.news, TEXT, forbidden)  # broadcast: owners and admins
    await refused(w, kind, "carol", w.channel, "```py\nunclosed", ErrorCode.BAD_REQUEST)
    await refused(w, kind, "carol", w.channel, "x" * 20_000, ErrorCode.PAYLOAD_TOO_LARGE)
    assert (await KINDS[kind](w, "alice", w.news, "from the owner")).created
