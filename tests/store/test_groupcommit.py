"""The group-commit writer: seq under concurrency, batches, listener order, cancellation."""

from __future__ import annotations

import random
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from parley.core.events import EventName
from parley.core.records import Channel, ChannelEvent, ChannelKind, Draft, PostResult, Role
from parley.store import BatchFailed, SqlStore, StoreClosed, sql
from parley.store.errors import Conflict, NotFound
from parley.store.groupcommit import GroupCommitWriter
from parley.store.sql.messages import Authorize
from parley.store.sqlite import SqliteDb
from parley.store.writetx import WriteTx
from tests.support.store import anyone, post_message

if TYPE_CHECKING:
    from tests.support.store import Recorder, WriterGate


ORG = "acme"
POSTERS = 50
POSTS_EACH = 8


async def group(st: SqlStore) -> Channel:
    ch, _ = await st.write(
        sql.channels.create_channel,
        org=ORG,
        kind=ChannelKind.GROUP,
        name="g",
        topic="",
        created_by="owner",
        members=[],
    )
    return ch


def assert_gapless(events: list[ChannelEvent], first: int, last: int) -> None:
    assert [e.seq for e in events] == list(range(first, last + 1))


async def test_seq_has_no_gaps_under_concurrent_posters(
    store: SqlStore, recorder: Recorder
) -> None:
    ch = await group(store)
    results: list[PostResult] = []

    async def poster(i: int) -> None:
        for j in range(POSTS_EACH):
            results.append(await post_message(store, ORG, ch.id, author=f"u{i}", text=f"{j}"))

    async with trio.open_nursery() as nursery:
        for i in range(POSTERS):
            nursery.start_soon(poster, i)

    total = POSTERS * POSTS_EACH
    assert sorted(r.message.seq for r in results) == list(range(2, total + 2))
    log = await store.read(sql.log.events_after, ORG, ch.id, 0, limit=total + 10)
    assert_gapless(log, 1, total + 1)
    # The listener saw exactly the log, in seq order, in several batches.
    assert recorder.events == log
    assert 1 < len(recorder.calls) < total
    # Each poster's own messages are in the order it posted them.
    for i in range(POSTERS):
        mine = [
            m
            for m in reversed(await store.read(sql.messages.list_messages, ORG, ch.id, limit=total))
        ]
        texts = [m.text for m in mine if m.author == f"u{i}"]
        assert texts == [str(j) for j in range(POSTS_EACH)]
        break


async def test_seq_per_channel_under_concurrent_posters_on_many_channels(
    store: SqlStore, recorder: Recorder
) -> None:
    channels = [await group(store) for _ in range(4)]
    rng = random.Random(7)
    plan = [[rng.choice(channels) for _ in range(POSTS_EACH)] for _ in range(POSTERS)]

    async def poster(i: int) -> None:
        for ch in plan[i]:
            await post_message(store, ORG, ch.id, author=f"u{i}", text="x")
            if ch is channels[0]:
                await store.write(
                    sql.members.add_member, ORG, ch.id, f"u{i}", role=Role.MEMBER, actor="owner"
                )

    async with trio.open_nursery() as nursery:
        for i in range(POSTERS):
            nursery.start_soon(poster, i)

    for ch in channels:
        log = await store.read(sql.log.events_after, ORG, ch.id, 0, limit=10_000)
        current = await store.read(sql.channels.get_channel, ORG, ch.id)
        assert current is not None
        assert_gapless(log, 1, current.last_seq)
        heard = [e for e in recorder.events if e.channel_id == ch.id]
        assert heard == log
    posts = sum(len(p) for p in plan)
    heard_posts = [e for e in recorder.events if e.event is EventName.MESSAGE_POSTED]
    assert len(heard_posts) == posts


async def test_same_key_twice_in_one_batch(
    store: SqlStore, recorder: Recorder, gate: WriterGate
) -> None:
    ch = await group(store)
    batches_before = store.writer.batches
    results: dict[str, PostResult] = {}

    async def post(text: str) -> None:
        results[text] = await post_message(
            store, ORG, ch.id, author="bob", text=text, idempotency_key="k"
        )

    async with gate.one_batch() as nursery:
        nursery.start_soon(post, "first")
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(post, "second")

    assert store.writer.batches == batches_before + 2  # the gate, then one batch
    # One optimistic transaction: the second post's idempotency read saw the first post's
    # deferred INSERT (deferred rows are sent before any read).
    assert store.writer.retried == 0
    first, second = results["first"], results["second"]
    assert first.created and first.event is not None and first.message.text == "first"
    assert not second.created and second.event is None and second.message == first.message
    assert [e.seq for e in recorder.calls[-1]] == [2]


async def test_a_failing_request_does_not_fail_its_batch(
    store: SqlStore, recorder: Recorder, gate: WriterGate
) -> None:
    ch = await group(store)
    await store.write(
        sql.channels.create_channel,
        org=ORG,
        kind=ChannelKind.DIRECT,
        name="",
        topic="",
        created_by="a",
        members=["b"],
    )
    batches_before = store.writer.batches
    outcomes: dict[str, object] = {}

    async def attempt(name: str, fn: object) -> None:
        try:
            outcomes[name] = await fn()  # type: ignore[operator]
        except Exception as exc:
            outcomes[name] = exc

    async with gate.one_batch() as nursery:
        steps = [
            ("ok1", lambda: post_message(store, ORG, ch.id, author="u", text="1")),
            ("missing", lambda: post_message(store, ORG, "ch_missing", author="u", text="x")),
            (
                "dup",
                lambda: store.write(
                    sql.channels.create_channel,
                    org=ORG,
                    kind=ChannelKind.DIRECT,
                    name="",
                    topic="",
                    created_by="b",
                    members=["a"],
                ),
            ),
            ("ok2", lambda: post_message(store, ORG, ch.id, author="u", text="2")),
        ]
        for name, fn in steps:
            nursery.start_soon(attempt, name, fn)
            await trio.testing.wait_all_tasks_blocked()

    assert store.writer.batches == batches_before + 2
    assert store.writer.retried == 1  # the optimistic attempt failed; savepoints isolated
    assert isinstance(outcomes["missing"], NotFound)
    assert isinstance(outcomes["dup"], Conflict)
    ok1, ok2 = outcomes["ok1"], outcomes["ok2"]
    assert isinstance(ok1, PostResult) and isinstance(ok2, PostResult)
    assert (ok1.message.seq, ok2.message.seq) == (2, 3)
    assert recorder.calls[-1] == [ok1.event, ok2.event]
    assert_gapless(await store.read(sql.log.events_after, ORG, ch.id, 0, limit=10), 1, 3)
    assert len(await store.read(sql.channels.user_channel_ids, ORG, "a")) == 1


async def test_a_database_error_fails_only_its_request(
    store: SqlStore, recorder: Recorder, gate: WriterGate
) -> None:
    """A statement that fails in the database (not a Python-level check) is rolled back
    to its request's savepoint, even when its error is reported late (PG pipeline); a
    request that fails after it took a seq gives the seq back."""
    ch = await group(store)
    outcomes: dict[str, object] = {}

    def bad_write(tx: WriteTx) -> None:
        tx.db.send("INSERT INTO profiles (org, user_id) VALUES (NULL, 'x')")

    def fails_after_taking_a_seq(tx: WriteTx) -> None:
        tx.next_seq(ORG, ch.id, activity_us=None)
        raise RuntimeError("after taking a seq")

    def post(text: str) -> Callable[[], Awaitable[object]]:
        return lambda: post_message(store, ORG, ch.id, author="u", text=text)

    async def attempt(name: str, fn: Callable[[], Awaitable[object]]) -> None:
        try:
            outcomes[name] = await fn()
        except Exception as exc:
            outcomes[name] = exc

    steps: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("ok1", post("1")),
        ("bad", lambda: store.writer.submit(bad_write)),
        ("seq", lambda: store.writer.submit(fails_after_taking_a_seq)),
        ("ok2", post("2")),
    ]
    async with gate.one_batch() as nursery:
        for name, fn in steps:
            nursery.start_soon(attempt, name, fn)
            await trio.testing.wait_all_tasks_blocked()

    assert isinstance(outcomes["bad"], Exception)
    assert not isinstance(outcomes["bad"], BatchFailed)
    assert isinstance(outcomes["seq"], RuntimeError)
    ok1, ok2 = outcomes["ok1"], outcomes["ok2"]
    assert isinstance(ok1, PostResult) and isinstance(ok2, PostResult)
    assert (ok1.message.seq, ok2.message.seq) == (2, 3)
    log = await store.read(sql.log.events_after, ORG, ch.id, 0, limit=10)
    assert [e.data.get("text") for e in log[1:]] == ["1", "2"]
    assert recorder.calls[-1] == log[1:]
    assert await store.read(sql.profiles.get_profile, ORG, "x") is None
    channel = await store.read(sql.channels.get_channel, ORG, ch.id)
    assert channel is not None and channel.last_seq == 3


async def test_listener_errors_do_not_stop_the_writer(
    store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(events: object) -> None:
        raise RuntimeError("listener bug")

    store.set_commit_listener(broken)
    ch = await group(store)
    assert (await post_message(store, ORG, ch.id, author="u", text="still")).created
    assert "commit listener failed" in caplog.text
    store.set_commit_listener(None)
    assert (await post_message(store, ORG, ch.id, author="u", text="quiet")).message.seq == 3


async def test_cancelled_while_queued_is_withdrawn(
    store: SqlStore, recorder: Recorder, gate: WriterGate
) -> None:
    ch = await group(store)
    scope = trio.CancelScope()

    async def doomed() -> None:
        with scope:
            await post_message(store, ORG, ch.id, author="u", text="withdrawn")

    async with gate.one_batch() as nursery:
        nursery.start_soon(lambda: post_message(store, ORG, ch.id, author="u", text="kept"))
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(doomed)
        await trio.testing.wait_all_tasks_blocked()
        scope.cancel()
    assert scope.cancelled_caught
    texts = [m.text for m in await store.read(sql.messages.list_messages, ORG, ch.id)]
    assert texts == ["kept"]
    assert_gapless(await store.read(sql.log.events_after, ORG, ch.id, 0, limit=10), 1, 2)
    assert [e.data["text"] for e in recorder.calls[-1]] == ["kept"]


async def test_cancelled_after_the_writer_took_it_still_commits(
    store: SqlStore, recorder: Recorder, gate: WriterGate
) -> None:
    ch = await group(store)
    scope = trio.CancelScope()

    async def poster() -> None:
        with scope:
            await post_message(store, ORG, ch.id, author="u", text="committed anyway")

    def cancel_the_poster(tx: object) -> None:
        # Runs in the writer thread, in the same batch, after the post was written.
        trio.from_thread.run_sync(scope.cancel)

    async with gate.one_batch() as nursery:
        nursery.start_soon(poster)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(store.writer.submit, cancel_the_poster)
    assert scope.cancelled_caught
    log = await store.read(sql.log.events_after, ORG, ch.id, 0, limit=10)
    assert_gapless(log, 1, 2)
    assert log[1].data["text"] == "committed anyway"
    assert recorder.calls[-1] == [log[1]]


async def test_a_cancelled_read_leaves_the_connection_usable(store: SqlStore, backend: str) -> None:
    slow = (
        "SELECT pg_sleep(30)"
        if backend == "postgres"
        else "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n)"
        " SELECT COUNT(*) FROM n"
    )
    readers = store._readers
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(readers.run, lambda db: db.one(slow))
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()
    assert scope.cancelled_caught
    for _ in range(3):  # every reader works again
        assert await readers.run(lambda db: db.one("SELECT 1")) == (1,)
    ch = await group(store)
    assert await store.read(sql.channels.get_channel, ORG, ch.id) == ch


async def test_writes_after_close_raise_store_closed(store: SqlStore) -> None:
    ch = await group(store)
    await store.aclose()
    with pytest.raises(StoreClosed):
        await post_message(store, ORG, ch.id, author="u", text="late")
    assert (
        await store.read(sql.channels.get_channel, ORG, ch.id) == ch
    )  # reads work until the context exits


async def test_a_full_queue_makes_writers_wait(tmp_path: Path) -> None:
    db = SqliteDb.open_writer(tmp_path / "bp.sqlite3")
    writer = GroupCommitWriter(db, queue_size=2)
    release = threading.Event()
    done: list[int] = []

    async def write(i: int) -> None:
        done.append(await writer.submit(lambda tx: i))

    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        async with trio.open_nursery() as callers:
            callers.start_soon(writer.exclusive, lambda db: release.wait())
            await trio.testing.wait_all_tasks_blocked()
            for i in range(5):
                callers.start_soon(write, i)
            await trio.testing.wait_all_tasks_blocked()
            assert len(writer._queue) == 2  # three callers wait for room
            release.set()
        writer.close()
    assert sorted(done) == [0, 1, 2, 3, 4]
    with pytest.raises(StoreClosed):
        await writer.submit(lambda tx: None)


async def test_writes_queued_a_scheduler_pass_later_join_the_batch(
    store: SqlStore, recorder: Recorder
) -> None:
    """The writer yields before taking a batch, so a caller that submits one scheduler
    pass after the one that woke it still shares its batch (and its commit)."""
    ch = await group(store)
    batches_before = store.writer.batches

    async def post(delay_ticks: int, text: str) -> None:
        for _ in range(delay_ticks):
            await trio.lowlevel.checkpoint()
        await post_message(store, ORG, ch.id, author="bob", text=text)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(post, 0, "now")
        nursery.start_soon(post, 1, "a pass later")
    assert store.writer.batches == batches_before + 1
    assert len(recorder.calls[-1]) == 2


async def test_plain_posts_of_a_batch_run_in_bulk_and_a_refusal_needs_no_retry(
    store: SqlStore, recorder: Recorder, gate: WriterGate
) -> None:
    """Neighbouring ``write_bulk`` posts of one batch (different authors) run as one
    ``post_plain`` call; one refused (not a member) writes nothing, so the optimistic pass
    commits without the careful retry; each caller gets its own answer."""
    ch = await group(store)
    await store.write(
        sql.channels.create_channel,
        org=ORG,
        kind=ChannelKind.GROUP,
        name="members",
        topic="",
        created_by="alice",
        members=["bob"],
    )

    def members_only(kind: ChannelKind, role: Role | None) -> None:
        if role is None:
            raise NotFound(f"channel {ch.id}")

    retried = store.writer.retried
    outcomes: dict[str, object] = {}

    async def attempt(name: str, author: str, channel_id: str) -> None:
        draft = Draft(ORG, channel_id, author, name)
        policy: Authorize = members_only if name == "stranger" else anyone
        try:
            result: PostResult = await store.write_bulk(sql.messages.post_plain, (draft, policy))
            outcomes[name] = result
        except Exception as exc:
            outcomes[name] = exc

    async with gate.one_batch() as nursery:
        for name, author in (("u1", "u1"), ("stranger", "zed"), ("u2", "u2"), ("u3", "u3")):
            nursery.start_soon(attempt, name, author, ch.id)
            await trio.testing.wait_all_tasks_blocked()

    assert store.writer.retried == retried
    assert isinstance(outcomes["stranger"], NotFound)
    posted = [outcomes[n] for n in ("u1", "u2", "u3")]
    assert all(isinstance(p, PostResult) for p in posted)
    seqs = [p.message.seq for p in posted if isinstance(p, PostResult)]
    assert seqs == [seqs[0], seqs[0] + 1, seqs[0] + 2]
    assert [e.data["author"] for e in recorder.calls[-1]] == ["u1", "u2", "u3"]


async def test_a_failed_request_s_deferred_rows_are_dropped_not_sent(
    store: SqlStore, gate: WriterGate
) -> None:
    """A request that deferred rows and then failed is rolled back to its savepoint
    without sending them first: rows that could not be inserted (here a duplicate key)
    must not turn its own failure into the whole batch's."""
    ch = await group(store)
    first = await post_message(store, ORG, ch.id, author="u", text="first")

    def defers_a_duplicate_then_fails(tx: WriteTx) -> None:
        tx.db.defer(
            "INSERT INTO channel_events (org, channel_id, seq, event, data, ts_us, actor,"
            " message_id) VALUES (?, ?, ?, 'message_posted', '{}', 0, 'u', NULL)",
            (ORG, ch.id, first.message.seq),
        )
        raise ValueError("refused after deferring")

    outcomes: dict[str, object] = {}

    async def attempt(name: str, fn: Callable[[], Awaitable[object]]) -> None:
        try:
            outcomes[name] = await fn()
        except Exception as exc:
            outcomes[name] = exc

    async with gate.one_batch() as nursery:
        steps: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("ok1", lambda: post_message(store, ORG, ch.id, author="u", text="1")),
            ("bad", lambda: store.write(defers_a_duplicate_then_fails)),
            ("ok2", lambda: post_message(store, ORG, ch.id, author="u", text="2")),
        ]
        for name, fn in steps:
            nursery.start_soon(attempt, name, fn)
            await trio.testing.wait_all_tasks_blocked()

    assert isinstance(outcomes["bad"], ValueError)
    ok1, ok2 = outcomes["ok1"], outcomes["ok2"]
    assert isinstance(ok1, PostResult) and isinstance(ok2, PostResult)
    assert ok2.message.seq == ok1.message.seq + 1
