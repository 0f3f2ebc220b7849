"""Full-text search in the store, on SQLite (FTS5) and PostgreSQL (tsvector + GIN): the
same suite, the same answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from parley.core.records import ChannelKind, Draft
from parley.store import SqlStore, sql
from parley.store.errors import Conflict, NotFound
from parley.store.sql.search import SearchQuery, snippet, terms
from parley.store.writetx import WriteTx
from tests.support.store import anyone, post_message, post_message_with_files

MY_TABLES = "attachments, link_previews"


@pytest.fixture
async def st(store: SqlStore, store_url: str) -> AsyncIterator[SqlStore]:
    if store_url.startswith("postgresql"):
        await store.writer.exclusive(lambda db: db.run(f"TRUNCATE {MY_TABLES}, message_meta"))
    yield store


async def channel(st: SqlStore, owner: str, *members: str, org: str = "acme") -> str:
    ch, _ = await st.write(
        sql.channels.create_channel,
        org=org,
        kind=ChannelKind.GROUP,
        name="c",
        topic="",
        created_by=owner,
        members=members,
    )
    return ch.id


async def post(st: SqlStore, ch: str, author: str, text: str, org: str = "acme") -> str:
    res = await post_message(st, org, ch, author=author, text=text)
    return res.message.id


async def ids(st: SqlStore, user: str, text: str, org: str = "acme", **kw: object) -> set[str]:
    hits = await st.read(sql.search.search_messages, org, user, SearchQuery(text, **kw))  # type: ignore[arg-type]
    return {h.message.id for h in hits}


async def test_finds_only_what_the_user_may_see(st: SqlStore) -> None:
    mine = await channel(st, "alice", "bob")
    theirs = await channel(st, "carol")
    other_org = await channel(st, "alice", org="globex")
    m1 = await post(st, mine, "bob", "the budget for Q3 is ready")
    await post(st, theirs, "carol", "secret budget numbers")
    await post(st, other_org, "alice", "budget in another org", org="globex")
    await post(st, mine, "alice", "lunch?")
    assert await ids(st, "alice", "budget") == {m1}
    assert await ids(st, "bob", "BUDGET") == {m1}
    assert await ids(st, "dave", "budget") == set()  # member of nothing
    # a user removed from the channel no longer finds its messages
    await st.write(sql.members.remove_member, "acme", mine, "bob", actor="alice")
    assert await ids(st, "bob", "budget") == set()


async def test_ranked_with_highlighted_snippets(st: SqlStore) -> None:
    ch = await channel(st, "alice")
    weak = await post(st, ch, "alice", "one mention of deploy among many other words here")
    strong = await post(st, ch, "alice", "deploy deploy deploy")
    hits = await st.read(sql.search.search_messages, "acme", "alice", SearchQuery("deploy"))
    assert [h.message.id for h in hits] == [strong, weak]
    assert hits[0].rank > hits[1].rank
    hit = hits[1]
    assert hit.matched == "text"
    assert hit.highlights
    for start, end in hit.highlights:
        assert hit.snippet[start:end].lower() == "deploy"


async def test_all_words_must_match_and_prefix(st: SqlStore) -> None:
    ch = await channel(st, "alice")
    both = await post(st, ch, "alice", "release notes for version two")
    await post(st, ch, "alice", "release party")
    assert await ids(st, "alice", "release notes") == {both}
    assert len(await ids(st, "alice", "relea*")) == 2
    assert await ids(st, "alice", "nothing-like-this") == set()


async def test_filters(st: SqlStore) -> None:
    c1 = await channel(st, "alice", "bob")
    c2 = await channel(st, "alice")
    a1 = await post(st, c1, "alice", "status report")
    b1 = await post(st, c1, "bob", "status update")
    a2 = await post(st, c2, "alice", "status again")
    assert await ids(st, "alice", "status", channel_id=c1) == {a1, b1}
    assert await ids(st, "alice", "status", author="bob") == {b1}
    msg = await st.read(sql.messages.get_message, "acme", c1, b1)
    assert msg is not None
    at = msg.created_at
    assert await ids(st, "alice", "status", since=at) == {b1, a2}
    assert await ids(st, "alice", "status", until=at) == {a1, b1}
    assert await ids(st, "alice", "status", since=at + timedelta(days=1)) == set()
    # in-thread: a reply recorded by the conversation layer (message_meta.thread_root)
    await st.writer.exclusive(
        lambda db: db.run(
            "INSERT INTO message_meta (org, message_id, channel_id, seq, thread_root)"
            " VALUES (?, ?, ?, ?, ?)",
            ("acme", b1, c1, 2, a1),
        )
    )
    assert await ids(st, "alice", "status", in_thread=True) == {b1}
    assert await ids(st, "alice", "status", in_thread=False) == {a1, a2}
    assert await ids(st, "alice", "status", has_attachment=True) == set()
    assert await ids(st, "alice", "status", has_attachment=False) == {a1, b1, a2}


async def test_edits_and_deletes_update_the_index(st: SqlStore) -> None:
    ch = await channel(st, "alice")
    m = await post(st, ch, "alice", "original wording")
    gone = await post(st, ch, "alice", "original too")
    # what the conversation layer does: edit in place, tombstone on delete
    await st.writer.exclusive(
        lambda db: db.run("UPDATE messages SET text = ? WHERE id = ?", ("revised wording", m))
    )
    await st.writer.exclusive(
        lambda db: db.run("UPDATE messages SET deleted = TRUE WHERE id = ?", (gone,))
    )
    assert await ids(st, "alice", "original") == set()
    assert await ids(st, "alice", "revised") == {m}
    await st.writer.exclusive(lambda db: db.run("DELETE FROM messages WHERE id = ?", (m,)))
    assert await ids(st, "alice", "wording") == set()


async def test_attachment_names_are_searched(st: SqlStore) -> None:
    ch = await channel(st, "alice", "bob")
    other = await channel(st, "carol")
    f1 = await st.write(
        sql.files.insert_attachment,
        "acme",
        ch,
        uploader="alice",
        name="quarterly-report.pdf",
        content_type="application/pdf",
        size=10,
        width=None,
        height=None,
        sha256="0" * 64,
        blob_key="k1",
    )
    f2 = await st.write(
        sql.files.insert_attachment,
        "acme",
        ch,
        uploader="alice",
        name="chart.png",
        content_type="image/png",
        size=10,
        width=3,
        height=2,
        sha256="1" * 64,
        blob_key="k2",
    )
    res, files = await post_message_with_files(
        st, "acme", ch, author="alice", text="see attached", file_ids=[f1.id, f2.id]
    )
    assert [f.message_id for f in files] == [res.message.id] * 2
    assert res.event is not None
    assert [a["name"] for a in res.event.data["attachments"]] == [
        "quarterly-report.pdf",
        "chart.png",
    ]
    hits = await st.read(sql.search.search_messages, "acme", "bob", SearchQuery("quarterly"))
    assert [(h.message.id, h.matched) for h in hits] == [(res.message.id, "files")]
    assert hits[0].snippet[slice(*hits[0].highlights[0])].lower() == "quarterly"
    assert await ids(st, "bob", "attached", has_attachment=True) == {res.message.id}
    assert await ids(st, "carol", "quarterly") == set()
    listed = await st.read(sql.files.message_attachments, "acme", [res.message.id])
    assert {a.id for a in listed} == {f1.id, f2.id}
    # a file is posted once, by its uploader, in its channel
    with pytest.raises(Conflict):
        await post_message_with_files(st, "acme", ch, author="alice", text="x", file_ids=[f1.id])
    f3 = await st.write(
        sql.files.insert_attachment,
        "acme",
        ch,
        uploader="alice",
        name="a.txt",
        content_type="text/plain",
        size=1,
        width=None,
        height=None,
        sha256="2" * 64,
        blob_key="k3",
    )
    with pytest.raises(NotFound):
        await post_message_with_files(st, "acme", ch, author="bob", text="x", file_ids=[f3.id])
    with pytest.raises(NotFound):
        await post_message_with_files(st, "acme", other, author="alice", text="x", file_ids=[f3.id])
    assert await st.read(sql.files.get_attachment, "globex", f3.id) is None


@pytest.mark.parametrize("text", ["", "!!! ???", " ".join(["w"] * 17)])
async def test_bad_queries_refused(st: SqlStore, text: str) -> None:
    with pytest.raises(ValueError):
        await st.read(sql.search.search_messages, "acme", "alice", SearchQuery(text))


def test_terms_and_highlight() -> None:
    assert terms("Hello, wörld* x_y") == [
        ("hello", False),
        ("wörld", True),
        ("x", False),
        ("y", False),
    ]
    words = terms("fox")
    assert snippet("the quick fox", words) == ("the quick fox", [(10, 13)])
    long = " ".join(f"w{i}" for i in range(100)) + " fox " + " ".join(f"v{i}" for i in range(100))
    snip, spans = snippet(long, words)
    assert snip.startswith("…") and snip.endswith("…")
    assert [snip[a:b] for a, b in spans] == ["fox"]
    assert len(snip.split()) == 24
    assert snippet("no match", words) == ("", [])


NASTY = [
    'AND OR NOT NEAR "',
    "foo & bar | !baz",
    "x² ½ ①",
    "e\u0301cole",
    "日本語 テスト",
    "a:* b:*",
    "'; DROP TABLE messages; --",
    "col:foo",
    "^foo",
    "\u200bzero\u200bwidth",
    "٣٤٥ arabic-indic digits",
    "ß straße STRASSE",
    "emoji 🙂 only",
]


async def test_odd_queries_never_fail(st: SqlStore) -> None:
    ch = await channel(st, "alice")
    m = await post(st, ch, "alice", "Straße école 日本語 x² OR foo")
    for text in NASTY:
        try:
            hits = await st.read(sql.search.search_messages, "acme", "alice", SearchQuery(text))
        except ValueError:
            continue  # no words: refused, not a crash
        assert {h.message.id for h in hits} <= {m}


@pytest.mark.parametrize(
    ("text", "query", "found"),
    [
        ("une e\u0301cole", "e\u0301cole", True),  # decomposed accents stay in the word
        ("une e\u0301cole", "cole", False),
        ("x² and y", "x²", True),
        ("snake_case_name", "case", True),  # _ separates words, as unicode61 does
        ("foo.bar@example.com", "example", True),
        ("Straße", "STRASSE", False),  # no folding beyond lower-case
        ("日本語", "日本語", True),
    ],
)
async def test_same_words_on_both_backends(
    st: SqlStore, text: str, query: str, found: bool
) -> None:
    ch = await channel(st, "alice")
    m = await post(st, ch, "alice", text)
    assert await ids(st, "alice", query) == ({m} if found else set())


async def test_posts_edits_and_deletes_in_one_batch_leave_an_exact_index(
    st: SqlStore, store_url: str
) -> None:
    """SQLite indexes a batch's new messages in bulk just before it commits; an edit or a
    delete of a message the same transaction posted must leave the index exactly right
    (FTS5 external content: a wrong 'delete' would corrupt it), and so must later ones."""
    ch = await channel(st, "alice")

    def steps(tx: WriteTx) -> tuple[str, str, str]:
        a, b, c = (
            sql.messages.post(tx, Draft("acme", ch, "alice", text), authorize=anyone).message.id
            for text in ("alpha one", "beta two", "gamma three")
        )
        tx.db.run("UPDATE messages SET text = ? WHERE id = ?", ("delta edited", a))
        tx.db.run("DELETE FROM messages WHERE id = ?", (b,))
        return a, b, c

    a, _, c = await st.write(steps)
    assert await ids(st, "alice", "alpha") == set()
    assert await ids(st, "alice", "delta") == {a}
    assert await ids(st, "alice", "beta") == set()
    assert await ids(st, "alice", "gamma") == {c}
    await st.write(
        lambda tx: tx.db.run("UPDATE messages SET text = ? WHERE id = ?", ("epsilon", c))
    )
    assert await ids(st, "alice", "gamma") == set()
    assert await ids(st, "alice", "epsilon") == {c}
    if store_url.startswith("postgresql"):
        return
    await st.writer.exclusive(
        lambda db: db.run(
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)"
        )
    )
    assert await st.read(lambda db: db.one("SELECT COUNT(*) FROM messages_fts_pending")) == (0,)
