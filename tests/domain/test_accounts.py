"""Account deletion and export (docs/privacy.md), on SQLite and PostgreSQL: the archive
holds what the user wrote; deletion refuses their tokens first, tombstones their messages
through the one redaction (log and share snapshots included), erases the rest and their
uploads' bytes; only the user or a service token may do either."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from parley.app import build_services
from parley.core.claims import SERVICE_ROLE, Claims
from parley.core.codes import CloseCode, ErrorCode
from parley.core.errors import AuthError
from parley.domain.services import Services
from parley.store import SqlStore, sql
from tests.support.api import RecordingSink, make_settings, token
from tests.support.features import refused


def me(sub: str, org: str, *, service: bool = False) -> Claims:
    return Claims(sub, org, exp=2e9, roles=(SERVICE_ROLE,) if service else ())


@pytest.fixture
def svc(store: SqlStore, sink: RecordingSink, tmp_path: Path) -> Services:
    settings = replace(make_settings(), data_dir=tmp_path)
    return build_services(
        settings, store, sink, verify=settings.token_verifier().verify, spawn=print
    )


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_export_then_delete(
    svc: Services, store: SqlStore, sink: RecordingSink, org: str, tmp_path: Path
) -> None:
    ch = await svc.channels.create_channel(org, "alice", kind="group", name="g", members=["bob"])
    cid = ch.id
    kept = (await svc.messages.post_message(org, "bob", cid, "bob stays")).message
    m1 = (await svc.messages.post_message(org, "alice", cid, "the secret plan")).message
    await svc.edits.edit(org, "alice", cid, m1.id, "the secret plan, v2")
    att = await svc.files.upload(org, "alice", cid, "notes.txt", chunks(b"private notes"))
    posted, _ = await svc.files.post(org, "alice", cid, "", [att.id])
    await svc.reactions.react(org, "alice", cid, kept.id, "👍", on=True)
    await svc.bookmarks.bookmark(org, "alice", cid, kept.id, "remember")
    await svc.profiles.set_profile(org, "alice", display_name="Alice", avatar_url=None)
    await svc.blocks.block(org, "alice", "mallory")
    share = await svc.shares.share(org, "bob", cid, m1.id, cid, "look")
    blob_files = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert len(blob_files) == 1

    # export: the user, or a service token; nobody else
    await refused(ErrorCode.FORBIDDEN, svc.accounts.export(me("bob", org), "alice"))
    archive = await svc.accounts.export(me("alice", org), "alice")
    assert archive == await svc.accounts.export(me("ops", org, service=True), "alice") | {
        "exported_at": archive["exported_at"]
    }
    assert [m["text"] for m in archive["messages"]] == ["the secret plan, v2", ""]
    assert [f["name"] for f in archive["files"]] == ["notes.txt"]
    assert archive["files"][0]["download"] == f"/v1/files/{att.id}/content"
    assert [(r["message_id"], r["emoji"]) for r in archive["reactions"]] == [(kept.id, "👍")]
    assert [(b["message_id"], b["note"]) for b in archive["bookmarks"]] == [(kept.id, "remember")]
    assert archive["profile"] == {"display_name": "Alice", "avatar_url": None}
    assert [b["user_id"] for b in archive["blocks"]] == ["mallory"]
    assert [c["channel_id"] for c in archive["channels"]] == [cid]
    json.dumps(archive)  # JSON as it is

    # a refused deletion changes nothing
    await refused(ErrorCode.FORBIDDEN, svc.accounts.delete(me("bob", org), "alice"))
    assert await svc.accounts.export(me("alice", org), "alice") | {"exported_at": ""} == (
        archive | {"exported_at": ""}
    )

    erased = await svc.accounts.delete(me("alice", org), "alice")
    assert erased["messages"] == 2 and erased["reactions"] == 1 and erased["channels"] == 1
    assert erased["files"] == 1 and erased["bookmarks"] == 1 and erased["profile"] == 1
    # tokens refused from now on (REST's verify; the broker's goes through refuse too)
    with pytest.raises(AuthError):
        svc.verify(token("alice", org))
    with pytest.raises(AuthError):
        svc.accounts.refuse(me("alice", org))
    svc.verify(token("alice", "other-org"))  # the same sub in another org is someone else
    svc.verify(token("bob", org))
    # messages tombstoned (the log too), the share's snapshot redacted, the file gone
    for mid in (m1.id, posted.message.id):
        msg = await store.read(sql.messages.get_message, org, cid, mid)
        assert msg is not None and msg.deleted and msg.text == ""
    events = await store.read(sql.log.events_after, org, cid, 0, limit=100)
    assert "secret plan" not in json.dumps([e.data for e in events])
    assert "notes.txt" not in json.dumps([e.data for e in events])
    view = await svc.messages.message_view(org, "bob", cid, share.message.id)
    assert view.shared is not None and view.shared["text"] == ""
    assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []
    assert await store.read(sql.files.get_attachment, org, att.id) is None
    # the rest of bob's channel is untouched; alice left it
    assert (await svc.messages.message_view(org, "bob", cid, kept.id)).reactions == []
    assert await store.read(sql.members.get_member, org, cid, "alice") is None
    assert (await svc.profiles.get_profile(org, "alice")).display_name is None
    left = await svc.accounts.export(me("ops", org, service=True), "alice")
    assert all(
        left[k] in ([], None)
        for k in ("messages", "files", "reactions", "bookmarks", "blocks", "channels", "profile")
    )
    # a deleted account cannot be added back, nor messaged directly
    await refused(ErrorCode.NOT_FOUND, svc.members.add_member(org, "bob", cid, "alice"))
    await refused(
        ErrorCode.NOT_FOUND,
        svc.channels.create_channel(org, "bob", kind="direct", members=["alice"]),
    )
    # deleting again (a service) is a no-op
    again = await svc.accounts.delete(me("ops", org, service=True), "alice")
    assert sum(again.values()) == 0


async def test_interrupted_deletion_is_finished_and_seen_by_other_nodes(
    store: SqlStore, sink: RecordingSink, org: str, tmp_path: Path
) -> None:
    settings = replace(make_settings(), data_dir=tmp_path)

    def node() -> Services:
        return build_services(
            settings, store, sink, verify=settings.token_verifier().verify, spawn=print
        )

    a, b = node(), node()
    cid = (
        await a.channels.create_channel(org, "alice", kind="group", name="g", members=["bob"])
    ).id
    m = (await a.messages.post_message(org, "alice", cid, "hello")).message
    # a crash right after the deletion was recorded
    await store.write(sql.accounts.mark_deleted, org, "alice", actor="alice")
    svc_token = token("alice", org)
    b.verify(svc_token)  # node b has not reloaded yet
    await b.accounts.load()
    with pytest.raises(AuthError):
        b.verify(svc_token)
    await b.accounts.resume()
    msg = await store.read(sql.messages.get_message, org, cid, m.id)
    assert msg is not None and msg.deleted
    assert await store.read(sql.accounts.unfinished) == []


class RecordingSessions:
    """A :class:`parley.core.ports.SessionControl` double: records what it was told to
    close, and whether the deletion was already recorded (tokens refused) by then."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, CloseCode, str]] = []
        self.refused_then: list[bool] = []
        self.svc: Services | None = None

    def disconnect_user(self, org: str, user_id: str, code: CloseCode, reason: str) -> int:
        self.calls.append((org, user_id, code, reason))
        if self.svc is not None:
            try:
                self.svc.accounts.refuse(me(user_id, org))
                self.refused_then.append(False)
            except AuthError:
                self.refused_then.append(True)
        return 1


async def test_deletion_closes_open_connections_at_once_on_every_node(
    store: SqlStore, sink: RecordingSink, org: str, tmp_path: Path
) -> None:
    """Once the deletion is recorded, the account's open connections are closed (1008
    "account deleted", as a new connection is refused) rather than left to their token's
    expiry; a node that learns of the deletion by reloading closes its own; a refused
    deletion closes nothing."""
    settings = replace(make_settings(), data_dir=tmp_path)
    here, there = RecordingSessions(), RecordingSessions()

    def node(sessions: RecordingSessions) -> Services:
        svc = build_services(
            settings,
            store,
            sink,
            verify=settings.token_verifier().verify,
            spawn=print,
            sessions=sessions,
        )
        sessions.svc = svc
        return svc

    a, b = node(here), node(there)
    await b.accounts.load()
    await a.channels.create_channel(org, "alice", kind="group", name="g", members=["bob"])
    await refused(ErrorCode.FORBIDDEN, a.accounts.delete(me("bob", org), "alice"))
    assert here.calls == []
    await a.accounts.delete(me("alice", org), "alice")
    assert here.calls == [(org, "alice", CloseCode.POLICY_VIOLATION, "account deleted")]
    assert here.refused_then == [True]  # a reconnect after the close is refused
    await a.accounts.delete(me("ops", org, service=True), "alice")  # again: nothing new
    await a.accounts.load()
    assert len(here.calls) == 2  # the explicit delete closes again (harmless), load does not
    assert there.calls == []
    await b.accounts.load()  # node b learns of it: closes its own connections of alice
    assert there.calls == [(org, "alice", CloseCode.POLICY_VIOLATION, "account deleted")]
    await b.accounts.load()
    assert len(there.calls) == 1
