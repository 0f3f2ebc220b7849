"""The Matrix mapping, sans-IO: puppet ids, the registration, what Parley sends and how
remote events are read (``body`` only, never ``formatted_body``)."""

from __future__ import annotations

from parley.core.records import FederationLink, Network
from parley.core.times import parse_ts
from parley.domain.federation import InKind, MatrixConfig, Outgoing, OutKind
from parley.domain.matrix import (
    event_content,
    is_ours,
    parse_event,
    puppet_id,
    registration,
    render_html,
    txn_id,
)

CFG = MatrixConfig("http://hs", "hs.test", "as", "hs")
LINK = FederationLink(
    "fl_1",
    "acme",
    "ch_1",
    Network.MATRIX,
    "!r:hs.test",
    "!r:hs.test",
    "root",
    parse_ts("2026-01-01T00:00:00Z"),
    0,
)


def test_puppets_and_registration() -> None:
    assert puppet_id(CFG, "acme", "Bob_1") == "@parley_acme_=42ob=5f1:hs.test"
    assert is_ours(CFG, "@parley_acme_bob:hs.test") and is_ours(CFG, "@parley-bridge:hs.test")
    assert not is_ours(CFG, "@parley_acme_bob:evil.test")
    reg = registration(CFG)
    assert reg["namespaces"]["users"] == [{"exclusive": True, "regex": r"@parley_.*:hs\.test"}]
    assert reg["receive_ephemeral"] is True and reg["as_token"] == "as"


def test_what_parley_sends() -> None:
    post = Outgoing(
        OutKind.POST, LINK, 7, "msg_1", "bob", "Bob", text="**b** <i>x</i>", thread_root="$root"
    )
    kind, content = event_content(post)
    assert kind == "m.room.message"
    assert content["formatted_body"] == "<p><strong>b</strong> &lt;i&gt;x&lt;/i&gt;</p>"
    assert content["m.relates_to"]["rel_type"] == "m.thread"
    assert txn_id(post) == "parley.msg_1.post.7"  # the same on every retry
    react = Outgoing(OutKind.REACT, LINK, 8, "msg_1", "bob", "Bob", target="$e", emoji=":thumbsup:")
    assert event_content(react)[1]["m.relates_to"]["key"] == "👍"
    assert "href" not in render_html("[x](javascript:alert(1))")  # no unsafe link


def test_remote_events_are_read_from_body_only() -> None:
    ev = {
        "type": "m.room.message",
        "sender": "@m:hs.test",
        "event_id": "$1",
        "content": {"msgtype": "m.text", "body": "plain", "formatted_body": "<b>html</b>"},
    }
    inc = parse_event(ev, {"@m:hs.test": "Maria"})
    assert inc is not None and (inc.text, inc.sender.display_name) == ("plain", "Maria")
    reply = {
        "type": "m.room.message",
        "sender": "@m:hs.test",
        "event_id": "$2",
        "content": {
            "msgtype": "m.text",
            "body": "> <@b> quoted\n\nanswer",
            "m.relates_to": {"m.in_reply_to": {"event_id": "$1"}},
        },
    }
    inc = parse_event(reply, {})
    assert inc is not None and (inc.text, inc.thread_root) == ("answer", "$1")
    redaction = {
        "type": "m.room.redaction",
        "sender": "@m:hs.test",
        "event_id": "$3",
        "redacts": "$1",
        "content": {},
    }
    inc = parse_event(redaction, {})
    assert inc is not None and (inc.kind, inc.target) == (InKind.REDACT, "$1")
    assert parse_event({"type": "m.room.message", "sender": 5, "content": {}}, {}) is None
    assert (
        parse_event(
            {
                "type": "m.room.topic",
                "sender": "@m:hs.test",
                "event_id": "$4",
                "content": {"topic": "x"},
            },
            {},
        )
        is None
    )
