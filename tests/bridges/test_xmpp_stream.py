"""The XMPP stream parser and the stanza mapping, sans-IO: bytes in, events out."""

from __future__ import annotations

import hashlib

import pytest

from parley.bridges.xmpp import mapping
from parley.bridges.xmpp.stream import (
    MAX_STANZA_BYTES,
    Stanza,
    StreamClosed,
    StreamError,
    StreamOpened,
    XmlStream,
    handshake,
    serialize,
)
from parley.core.records import FederationLink, Network
from parley.core.times import parse_ts
from parley.domain.federation import InKind, Outgoing, OutKind

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept'"
    b" xmlns:stream='http://etherx.jabber.org/streams' id='abc' from='c.test'>"
)


def test_stanzas_come_out_whole_even_when_split() -> None:
    s = XmlStream()
    data = HEADER + b"<message type='groupchat' from='r@m/n' id='1'><body>a &amp; b</body>"
    data += b"</message><handshake/></stream:stream>"
    events = [ev for i in range(0, len(data), 7) for ev in s.feed(data[i : i + 7])]
    assert isinstance(events[0], StreamOpened) and events[0].attrs["id"] == "abc"
    assert [e.tag for e in events if isinstance(e, Stanza)] == ["message", "handshake"]
    assert isinstance(events[-1], StreamClosed)


def test_hostile_input_ends_the_stream() -> None:
    with pytest.raises(StreamError):
        XmlStream().feed(b"<!DOCTYPE x [<!ENTITY a 'aaaa'>]>" + HEADER)
    with pytest.raises(StreamError):
        XmlStream().feed(b"<html>")
    s = XmlStream()
    s.feed(HEADER)
    with pytest.raises(StreamError):
        s.feed(b"<message><body>" + b"x" * MAX_STANZA_BYTES)
    with pytest.raises(StreamError):
        XmlStream().feed(HEADER + b"<message><a></b></message>")


def test_handshake_is_sha1_of_id_and_secret() -> None:
    expected = hashlib.sha1(b"abcsecret").hexdigest()
    assert handshake("abc", "secret") == f"<handshake>{expected}</handshake>".encode()


def _link() -> FederationLink:
    return FederationLink(
        "fl_1",
        "acme",
        "ch_1",
        Network.XMPP,
        "r@muc.test",
        "r@muc.test",
        "root",
        parse_ts("2026-01-01T00:00:00Z"),
        0,
    )


def test_outgoing_stanzas() -> None:
    link = _link()
    post = Outgoing(OutKind.POST, link, 5, "msg_1", "bob", "Bob", text="hi <b>")
    xml = serialize(mapping.outgoing(post, "acme_bob@c.test/parley", link.remote, []))
    assert b"<body>hi &lt;b&gt;</body>" in xml and b'id="parley-msg_1"' in xml
    edit = Outgoing(OutKind.EDIT, link, 6, "msg_1", "bob", "Bob", text="hi2", target="s:1")
    xml = serialize(mapping.outgoing(edit, "j", link.remote, []))
    assert b'<replace xmlns="urn:xmpp:message-correct:0" id="parley-msg_1"' in xml
    react = Outgoing(OutKind.REACT, link, 7, "msg_1", "bob", "Bob", target="s:1", emoji="🎉")
    xml = serialize(mapping.outgoing(react, "j", link.remote, ["🎉", "👍"], "s:9"))
    assert b'<reactions xmlns="urn:xmpp:reactions:0" id="9">' in xml
    assert xml.count(b"<reaction>") == 2


def test_incoming_groupchat() -> None:
    s = XmlStream()
    s.feed(HEADER)
    (ev,) = s.feed(
        b"<message type='groupchat' from='r@muc.test/Xena' id='x1'><body>hi</body>"
        b"<stanza-id xmlns='urn:xmpp:sid:0' by='r@muc.test' id='S1'/></message>"
    )
    assert isinstance(ev, Stanza)
    g = mapping.parse_groupchat(ev.element)
    assert g is not None and g.incoming is not None
    assert (g.incoming.kind, g.incoming.remote_id, g.incoming.text) == (
        InKind.MESSAGE,
        "s:S1",
        "hi",
    )
    (ev,) = s.feed(
        b"<message type='groupchat' from='r@muc.test/Xena' id='x2'><body>hi!</body>"
        b"<replace xmlns='urn:xmpp:message-correct:0' id='x1'/></message>"
    )
    assert isinstance(ev, Stanza)
    g = mapping.parse_groupchat(ev.element)
    assert g is not None and g.incoming is not None
    assert (g.incoming.kind, g.incoming.target) == (InKind.EDIT, "o:r@muc.test/Xena#x1")
    (ev,) = s.feed(b"<message type='groupchat' from='r@muc.test'><subject>t</subject></message>")
    assert isinstance(ev, Stanza) and mapping.parse_groupchat(ev.element) is None


def test_puppet_jids_escape_the_separator() -> None:
    assert mapping.puppet_jid("c.test", "ac_me", "Bob") == "ac=5fme_=42ob@c.test/parley"
