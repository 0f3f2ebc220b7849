# ruff: noqa: E501  (GraphQL documents read best on one line)
"""GraphQL end to end on SQLite and PostgreSQL: every query and mutation against the whole
service on 127.0.0.1, as two members (alice, bob), a non-member (eve) and a user of
another org (mallory), with the refusals REST gives."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from parley.settings import Settings
from tests.conftest import make_token
from tests.support.live import LiveApp, live_app
from tests.support.store import PgSchemas

TIMEOUT = 15


@pytest.fixture(params=["sqlite", "postgres"])
def app(request: pytest.FixtureRequest, settings: Settings) -> Iterator[LiveApp]:
    if request.param == "postgres":
        schemas: PgSchemas = request.getfixturevalue("pg_schemas")
        settings = replace(settings, database_url=schemas.new())
    with live_app(settings) as live:
        yield live


def post(
    app: LiveApp,
    user: str | None,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    org: str = "acme",
    roles: tuple[str, ...] = (),
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if user is not None:
        headers["Authorization"] = f"Bearer {make_token(user, org, roles=roles)}"
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(f"{app.http_url}/graphql", data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def gql(app: LiveApp, user: str, query: str, org: str = "acme", **variables: Any) -> Any:
    """The data of a query that must succeed."""
    status, body = post(app, user, query, variables, org=org)
    assert status == 200 and "errors" not in body, body
    return body["data"]


def refused(app: LiveApp, user: str, query: str, org: str = "acme", **variables: Any) -> str:
    """The error code of a query whose one root field is refused (and null)."""
    status, body = post(app, user, query, variables, org=org)
    assert status == 200, body
    assert list(body["data"].values()) == [None], body
    (err,) = body["errors"]
    code: str = err["extensions"]["code"]
    return code


def get(app: LiveApp, user: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
    url = f"{app.http_url}/graphql?{urllib.parse.urlencode(params)}"
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {make_token(user)}"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


CREATE = """mutation($members: [String!]) {
  createChannel(kind: GROUP, name: "plans", topic: "q4", members: $members) {
    id kind name topic role memberCount unread readSeq
  }
}"""
POST = (
    "mutation($c: ID!, $t: String!) { postMessage(channel: $c, text: $t) { id seq text authorId } }"
)


def test_channels_members_and_messages(app: LiveApp) -> None:
    ch = gql(app, "alice", CREATE, members=["bob"])["createChannel"]
    assert ch | {"id": None} == {
        "id": None,
        "kind": "GROUP",
        "name": "plans",
        "topic": "q4",
        "role": "OWNER",
        "memberCount": 2,
        "unread": 0,
        "readSeq": 0,
    }
    cid = ch["id"]
    posted = [gql(app, "alice", POST, c=cid, t=f"m{i}")["postMessage"] for i in range(5)]
    assert [m["text"] for m in posted] == [f"m{i}" for i in range(5)]
    # bob's unread count and the channel list
    data = gql(app, "bob", "{ channels { nodes { id unread role lastMessage { text } } } }")
    assert data["channels"]["nodes"] == [
        {"id": cid, "unread": 5, "role": "MEMBER", "lastMessage": {"text": "m4"}}
    ]
    # cursor pagination, newest first, then oldest first
    page_q = """query($c: ID!, $after: String, $order: MessageOrder) {
      messages(channel: $c, first: 2, after: $after, order: $order) {
        edges { cursor node { text author { userId } } }
        pageInfo { hasNextPage endCursor }
      }
    }"""
    seen: list[str] = []
    after = None
    for _ in range(5):
        page = gql(app, "bob", page_q, c=cid, after=after)["messages"]
        seen += [e["node"]["text"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["m4", "m3", "m2", "m1", "m0"]
    page = gql(app, "bob", page_q, c=cid, order="OLDEST_FIRST")["messages"]
    assert [e["node"]["text"] for e in page["edges"]] == ["m0", "m1"]
    # a date range: everything up to now, nothing from tomorrow
    ranged = """query($c: ID!, $from: DateTime, $to: DateTime) {
      messages(channel: $c, from: $from, to: $to) { nodes { text } } }"""
    assert len(gql(app, "bob", ranged, c=cid, to="2999-01-01T00:00:00Z")["messages"]["nodes"]) == 5
    assert gql(app, "bob", ranged, c=cid, **{"from": "2999-01-01T00:00:00Z"})["messages"] == {
        "nodes": []
    }
    status, body = post(app, "bob", ranged, {"c": cid, "from": "next tuesday"})
    assert status == 200 and body["errors"][0]["extensions"]["code"] == "bad_request"
    one = gql(
        app,
        "bob",
        "query($c: ID!, $m: ID!) { message(channel: $c, id: $m) { text seq } }",
        c=cid,
        m=posted[0]["id"],
    )
    assert one["message"] == {"text": "m0", "seq": posted[0]["seq"]}
    # mark read, members with profiles
    assert (
        gql(
            app,
            "bob",
            "mutation($c: ID!, $s: Int!) { markRead(channel: $c, seq: $s) }",
            c=cid,
            s=posted[-1]["seq"],
        )["markRead"]
        == posted[-1]["seq"]
    )
    nested = """query($c: ID!) { channel(id: $c) { unread members { nodes { userId role
      profile { userId } } } messages(first: 1) { nodes { text } } notes { id } pins { pinnedBy } } }"""
    got = gql(app, "bob", nested, c=cid)["channel"]
    assert got["unread"] == 0 and got["messages"]["nodes"] == [{"text": "m4"}]
    assert [m["userId"] for m in got["members"]["nodes"]] == ["alice", "bob"]
    # membership changes
    add = "mutation($c: ID!, $u: String!) { addMember(channel: $c, user: $u, role: MEMBER) { userId role } }"
    assert gql(app, "alice", add, c=cid, u="carol")["addMember"] == {
        "userId": "carol",
        "role": "MEMBER",
    }
    rm = "mutation($c: ID!, $u: String!) { removeMember(channel: $c, user: $u) }"
    assert refused(app, "bob", rm, c=cid, u="alice") == "forbidden"
    assert gql(app, "alice", rm, c=cid, u="carol")["removeMember"] is True
    # a non-member and another org: the same not_found as REST, for reads and writes
    for user, org in (("eve", "acme"), ("mallory", "globex")):
        for q, v in (
            ("query($c: ID!) { channel(id: $c) { id } }", {}),
            ("query($c: ID!) { messages(channel: $c) { nodes { id } } }", {}),
            (
                "query($c: ID!, $m: ID!) { message(channel: $c, id: $m) { id } }",
                {"m": posted[0]["id"]},
            ),
            (POST, {"t": "hi"}),
            ("query($c: ID!) { pins(channel: $c) { pinnedBy } }", {}),
            ("query($c: ID!) { mentions(channel: $c) { unread } }", {}),
            ("query($c: ID!) { threads(channel: $c) { unread } }", {}),
            ("query($c: ID!) { notes(channel: $c) { id } }", {}),
            ("mutation($c: ID!) { markRead(channel: $c, seq: 1) }", {}),
        ):
            assert refused(app, user, q, org, c=cid, **v) == "not_found", (user, q)
        assert gql(app, user, "{ channels { nodes { id } } }", org)["channels"]["nodes"] == []
    # no token: 401 in GraphQL's shape
    status, body = post(app, None, "{ me { userId } }")
    assert status == 401 and body["errors"][0]["extensions"]["code"] == "unauthorized"


def test_conversation_mutations_and_queries(app: LiveApp) -> None:
    cid = gql(app, "alice", CREATE, members=["bob"])["createChannel"]["id"]
    other = gql(app, "bob", CREATE, members=[])["createChannel"]["id"]
    root = gql(app, "alice", POST, c=cid, t="root @bob")["postMessage"]
    reply = gql(
        app,
        "bob",
        'mutation($c: ID!, $r: ID!) { reply(channel: $c, root: $r, text: "re") { id threadRoot } }',
        c=cid,
        r=root["id"],
    )["reply"]
    assert reply["threadRoot"] == root["id"]
    thread = gql(
        app,
        "alice",
        "query($c: ID!, $r: ID!) { thread(channel: $c, root: $r) { root { text thread { replyCount participants } } replies { text } unread } }",
        c=cid,
        r=root["id"],
    )["thread"]
    assert thread == {
        "root": {"text": "root @bob", "thread": {"replyCount": 1, "participants": ["bob"]}},
        "replies": [{"text": "re"}],
        "unread": 1,
    }
    threads = gql(
        app, "alice", "query($c: ID!) { threads(channel: $c) { root { id } unread } }", c=cid
    )
    assert threads["threads"] == [{"root": {"id": root["id"]}, "unread": 1}]
    assert (
        gql(
            app,
            "alice",
            "mutation($c: ID!, $r: ID!, $s: Int!) { markThreadRead(channel: $c, root: $r, seq: $s) }",
            c=cid,
            r=root["id"],
            s=reply_seq(app, cid, reply["id"]),
        )["markThreadRead"]
        > 0
    )
    mentions = gql(
        app, "bob", "query($c: ID!) { mentions(channel: $c) { unread items { messageId } } }", c=cid
    )
    assert mentions["mentions"]["items"] == [{"messageId": root["id"]}]
    # edit: only the author
    edit = "mutation($c: ID!, $m: ID!, $t: String!) { editMessage(channel: $c, id: $m, text: $t) { text editedAt } }"
    assert refused(app, "bob", edit, c=cid, m=root["id"], t="hijack") == "forbidden"
    assert gql(app, "alice", edit, c=cid, m=root["id"], t="root v2")["editMessage"]["editedAt"]
    # reactions, pins, bookmarks
    react = 'mutation($c: ID!, $m: ID!) { react(channel: $c, message: $m, emoji: "👍") { emoji count me } }'
    assert gql(app, "bob", react, c=cid, m=root["id"])["react"] == [
        {"emoji": "👍", "count": 1, "me": True}
    ]
    assert refused(app, "eve", react, c=cid, m=root["id"]) == "not_found"
    unreact = (
        'mutation($c: ID!, $m: ID!) { unreact(channel: $c, message: $m, emoji: "👍") { count } }'
    )
    gql(app, "alice", react, c=cid, m=root["id"])
    assert gql(app, "bob", unreact, c=cid, m=root["id"])["unreact"] == [{"count": 1}]
    pin = "mutation($c: ID!, $m: ID!, $on: Boolean) { pin(channel: $c, message: $m, on: $on) }"
    assert gql(app, "bob", pin, c=cid, m=root["id"], on=True)["pin"] is True
    pins = gql(
        app,
        "alice",
        "query($c: ID!) { pins(channel: $c) { pinnedBy message { text pinned reactions { emoji count me } } } }",
        c=cid,
    )
    assert pins["pins"] == [
        {
            "pinnedBy": "bob",
            "message": {
                "text": "root v2",
                "pinned": True,
                "reactions": [{"emoji": "👍", "count": 1, "me": True}],
            },
        }
    ]
    assert gql(app, "bob", pin, c=cid, m=root["id"], on=False)["pin"] is True
    bm = 'mutation($c: ID!, $m: ID!) { bookmark(channel: $c, message: $m, note: "later") { note message { id } } }'
    assert gql(app, "bob", bm, c=cid, m=root["id"])["bookmark"] == {
        "note": "later",
        "message": {"id": root["id"]},
    }
    assert refused(app, "eve", bm, c=cid, m=root["id"]) == "not_found"
    marks = gql(app, "bob", "{ bookmarks(first: 10) { nodes { note } pageInfo { hasNextPage } } }")
    assert marks["bookmarks"] == {"nodes": [{"note": "later"}], "pageInfo": {"hasNextPage": False}}
    assert (
        gql(app, "bob", "mutation($m: ID!) { removeBookmark(message: $m) }", m=root["id"])[
            "removeBookmark"
        ]
        is True
    )
    assert (
        refused(app, "bob", "mutation($m: ID!) { removeBookmark(message: $m) }", m=root["id"])
        == "not_found"
    )
    # share into bob's other channel, then delete
    share = 'mutation($c: ID!, $m: ID!, $to: ID!) { shareMessage(channel: $c, id: $m, to: $to, comment: "fyi") { channel text } }'
    assert gql(app, "bob", share, c=cid, m=root["id"], to=other)["shareMessage"] == {
        "channel": other,
        "text": "fyi",
    }
    assert refused(app, "alice", share, c=cid, m=root["id"], to=other) == "not_found"
    delete = "mutation($c: ID!, $m: ID!) { deleteMessage(channel: $c, id: $m) }"
    assert refused(app, "bob", delete, c=cid, m=root["id"]) == "forbidden"
    assert gql(app, "alice", delete, c=cid, m=reply["id"])["deleteMessage"] is True
    # tasks
    task = gql(
        app,
        "alice",
        'mutation($c: ID!, $m: ID!) { createTask(channel: $c, message: $m, title: "ship", assignee: "bob", due: "2030-01-01T00:00:00Z") { id channel assignee dueAt } }',
        c=cid,
        m=root["id"],
    )["createTask"]
    assert task["assignee"] == "bob" and task["dueAt"] == "2030-01-01T00:00:00.000000Z"
    assert gql(app, "bob", "{ tasks { id } }")["tasks"] == [{"id": task["id"]}]
    assert gql(app, "bob", "query($t: ID!) { task(id: $t) { title } }", t=task["id"])["task"] == {
        "title": "ship"
    }
    assert (
        refused(app, "eve", "query($t: ID!) { task(id: $t) { title } }", t=task["id"])
        == "not_found"
    )
    complete = "mutation($t: ID!) { completeTask(id: $t) { completedBy } }"
    assert gql(app, "bob", complete, t=task["id"])["completeTask"] == {"completedBy": "bob"}
    # search
    hits = gql(
        app, "alice", '{ search(query: "root") { nodes { message { id } snippet matched } } }'
    )
    assert [h["message"]["id"] for h in hits["search"]["nodes"]] == [root["id"]]
    assert gql(app, "eve", '{ search(query: "root") { nodes { rank } } }')["search"]["nodes"] == []


def reply_seq(app: LiveApp, cid: str, message_id: str) -> int:
    q = "query($c: ID!, $m: ID!) { message(channel: $c, id: $m) { seq } }"
    seq: int = gql(app, "alice", q, c=cid, m=message_id)["message"]["seq"]
    return seq


def test_profiles_presence_and_teams(app: LiveApp) -> None:
    setp = 'mutation { setProfile(displayName: "Alice A.") { userId displayName } }'
    assert gql(app, "alice", setp)["setProfile"] == {"userId": "alice", "displayName": "Alice A."}
    assert gql(app, "bob", '{ profile(user: "alice") { displayName } }')["profile"] == {
        "displayName": "Alice A."
    }
    assert gql(app, "bob", '{ profiles(users: ["alice", "zed"]) { userId displayName } }')[
        "profiles"
    ] == [
        {"userId": "alice", "displayName": "Alice A."},
        {"userId": "zed", "displayName": None},
    ]
    assert gql(app, "bob", "{ me { userId presence { status } } }")["me"] == {
        "userId": "bob",
        "presence": {"status": "offline"},
    }
    assert gql(app, "bob", '{ presence(users: ["alice"]) { userId status lastSeen } }')[
        "presence"
    ] == [{"userId": "alice", "status": "offline", "lastSeen": None}]
    assert refused(app, "bob", "{ presence(users: []) { status } }") == "bad_request"
    team = gql(
        app,
        "alice",
        'mutation { createTeam(name: "design", members: ["bob"]) { id name members } }',
    )["createTeam"]
    assert team["members"] == ["bob"]
    assert refused(app, "bob", 'mutation { createTeam(name: "design") { id } }') == "conflict"
    add = 'mutation($t: ID!) { addTeamMember(team: $t, user: "carol") { members } }'
    assert refused(app, "mallory", add, t=team["id"]) == "forbidden"
    assert gql(app, "bob", add, t=team["id"])["addTeamMember"] == {"members": ["bob", "carol"]}
    rm = 'mutation($t: ID!) { removeTeamMember(team: $t, user: "carol") { members } }'
    assert gql(app, "bob", rm, t=team["id"])["removeTeamMember"] == {"members": ["bob"]}
    assert [t["name"] for t in gql(app, "zed", "{ teams { name } }")["teams"]] == ["design"]
    assert gql(app, "zed", "query($t: ID!) { team(id: $t) { name } }", t=team["id"])["team"] == {
        "name": "design"
    }
    assert (
        refused(app, "eve", "query($t: ID!) { team(id: $t) { name } }", "globex", t=team["id"])
        == "not_found"
    )


def test_notes_and_locks(app: LiveApp) -> None:
    cid = gql(app, "alice", CREATE, members=["bob"])["createChannel"]["id"]
    create = 'mutation($c: ID) { createNote(channel: $c, title: "Spec", body: "# Scope\\n- a") { id version authors channel } }'
    note = gql(app, "alice", create, c=cid)["createNote"]
    assert (note["version"], note["authors"], note["channel"]) == (1, ["alice"], cid)
    edit = "mutation($n: ID!, $v: Int!, $b: String) { editNote(id: $n, baseVersion: $v, body: $b) { version authors } }"
    assert gql(app, "bob", edit, n=note["id"], v=1, b="# Scope\n- a\n- b")["editNote"] == {
        "version": 2,
        "authors": ["alice", "bob"],
    }
    # the edit conflict: a stale base version, the current note in extensions.details
    _, body = post(app, "alice", edit, {"n": note["id"], "v": 1, "b": "mine"})
    (err,) = body["errors"]
    assert err["extensions"]["code"] == "conflict"
    assert err["extensions"]["details"]["current"]["version"] == 2
    read = "query($n: ID!) { note(id: $n) { title body version versions { version author } lock { holder } } }"
    got = gql(app, "bob", read, n=note["id"])["note"]
    assert got["body"] == "# Scope\n- a\n- b" and got["lock"] is None
    assert [v["author"] for v in got["versions"]] == ["alice", "bob"]
    assert refused(app, "eve", read, n=note["id"]) == "not_found"
    assert refused(app, "mallory", read, "globex", n=note["id"]) == "not_found"
    assert [
        n["id"]
        for n in gql(app, "bob", "query($c: ID) { notes(channel: $c) { id } }", c=cid)["notes"]
    ] == [note["id"]]
    mine = gql(app, "bob", create, c=None)["createNote"]
    assert mine["channel"] is None
    assert [n["id"] for n in gql(app, "bob", "{ notes { id } }")["notes"]] == [mine["id"]]
    assert refused(app, "alice", read, n=mine["id"]) == "not_found"
    # locks: contended by two users
    take = "mutation($e: String!) { acquireLock(entity: $e, ttl: 60) { entity holder expiresAt } }"
    lock = gql(app, "alice", take, e=note["id"])["acquireLock"]
    _, body = post(app, "bob", take, {"e": note["id"]})
    (err,) = body["errors"]
    assert err["extensions"]["code"] == "conflict"
    assert err["extensions"]["details"]["lock"]["holder"] == "alice"
    assert lock["expiresAt"] in err["message"]
    assert gql(app, "bob", read, n=note["id"])["note"]["lock"] == {"holder": "alice"}
    assert gql(app, "bob", "query($e: String!) { lock(entity: $e) { holder } }", e=note["id"])[
        "lock"
    ] == {"holder": "alice"}
    assert gql(app, "bob", "{ locks { entity } }")["locks"] == [{"entity": note["id"]}]
    assert gql(app, "mallory", "{ locks { entity } }", "globex")["locks"] == []
    renew = "mutation($e: String!) { renewLock(entity: $e, ttl: 120) { expiresAt } }"
    assert gql(app, "alice", renew, e=note["id"])["renewLock"]["expiresAt"] > lock["expiresAt"]
    assert refused(app, "bob", renew, e=note["id"]) == "conflict"
    release = "mutation($e: String!) { releaseLock(entity: $e) { holder } }"
    assert refused(app, "bob", release, e=note["id"]) == "conflict"
    assert gql(app, "alice", release, e=note["id"])["releaseLock"] == {"holder": "alice"}
    assert gql(app, "bob", take, e=note["id"])["acquireLock"]["holder"] == "bob"
    assert (
        refused(app, "bob", 'mutation { acquireLock(entity: "a b") { holder } }') == "bad_request"
    )
    # delete: the creator
    delete = "mutation($n: ID!) { deleteNote(id: $n) { id } }"
    assert refused(app, "bob", delete, n=note["id"]) == "forbidden"
    assert gql(app, "alice", delete, n=note["id"])["deleteNote"] == {"id": note["id"]}


def test_http_shapes_and_limits(app: LiveApp) -> None:
    assert get(app, "alice", {"query": "{ me { userId } }"}) == (
        200,
        {"data": {"me": {"userId": "alice"}}},
    )
    status, body = get(
        app, "alice", {"query": 'mutation { setProfile(displayName: "x") { userId } }'}
    )
    assert status == 405 and "POST" in body["errors"][0]["message"]
    status, body = post(app, "alice", "{ me { userId }")
    assert status == 400 and body["errors"][0]["extensions"]["code"] == "bad_request"
    status, body = post(app, "alice", "{ nope }")
    assert status == 400 and "nope" in body["errors"][0]["message"]
    # the complexity limit: a clear error, nothing runs
    wide = "{ channels(first: 200) { nodes { messages(first: 200) { nodes { author { userId } } } } } }"
    status, body = post(app, "alice", wide)
    assert status == 400
    (err,) = body["errors"]
    assert err["extensions"] == {"code": "bad_request", "limit": "complexity"}
    assert "complexity" in err["message"] and "10000" in err["message"]
    status, body = post(app, "alice", "{ me { userId } }" + " " * 20_000)
    assert status == 413 and body["errors"][0]["extensions"]["limit"] == "size"
    # introspection is on
    data = gql(
        app, "alice", '{ __schema { queryType { name } } __type(name: "Note") { fields { name } } }'
    )
    assert data["__schema"]["queryType"]["name"] == "Query"
    assert "versions" in [f["name"] for f in data["__type"]["fields"]]


def test_privacy_and_service_writes(app: LiveApp) -> None:
    cid = gql(app, "alice", CREATE, members=["bob"])["createChannel"]["id"]
    assert gql(app, "alice", 'mutation { block(user: "mallory") }')["block"] is True
    assert gql(app, "alice", 'mutation { block(user: "mallory") }')["block"] is False
    assert refused(app, "alice", 'mutation { block(user: "alice") }') == "bad_request"
    assert gql(app, "alice", 'mutation { unblock(user: "mallory") }')["unblock"] is True
    # service events: service tokens only, in their org
    publish = 'mutation($d: JSON) { publishEvent(topic: "events.acme.billing.invoice.paid.i1", data: $d) }'
    assert refused(app, "bob", publish, d={"amount": 1}) == "forbidden"
    status, body = post(app, "billing", publish, {"d": {"amount": 1}}, roles=("service",))
    assert status == 200 and body["data"]["publishEvent"] == 0  # nobody subscribed
    # retention: the org's by a service token, a channel's by its owner
    org_ret = "mutation { setOrgRetention(seconds: 86400) { orgSeconds effectiveSeconds } }"
    assert refused(app, "alice", org_ret) == "forbidden"
    status, body = post(app, "ops", org_ret, roles=("service",))
    assert body["data"]["setOrgRetention"] == {"orgSeconds": 86400, "effectiveSeconds": 86400}
    ch_ret = "mutation($c: ID!) { setChannelRetention(channel: $c, seconds: 3600) { channelSeconds effectiveSeconds } }"
    assert refused(app, "bob", ch_ret, c=cid) == "forbidden"
    assert refused(app, "eve", ch_ret, c=cid) == "not_found"
    assert gql(app, "alice", ch_ret, c=cid)["setChannelRetention"] == {
        "channelSeconds": 3600,
        "effectiveSeconds": 3600,
    }
    # account deletion: the user themselves (or a service token), nobody else
    delete = 'mutation { deleteAccount(user: "bob") }'
    assert refused(app, "alice", delete) == "forbidden"
    erased = gql(app, "bob", delete)["deleteAccount"]
    assert isinstance(erased, dict)
    status, body = post(app, "bob", "{ me { userId } }")
    assert status == 401  # a deleted account's tokens are refused
