"""Issue "federation bridges", XMPP end to end: the whole service with its XEP-0114
component against a real prosody on 127.0.0.1 (tests/support/prosody.py), and an XMPP
user on a c2s connection in a MUC. Both ways: a thread reply, a correction (XEP-0308), a
retraction (XEP-0424) and a reaction (XEP-0444); a prosody restart mid-conversation
loses nothing; an unlinked channel never leaves Parley."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from xml.etree.ElementTree import Element, SubElement

import pytest

from parley.bridges.xmpp.mapping import CORRECT, REACTIONS, RETRACT, SID
from parley.bridges.xmpp.stream import local
from parley.domain.federation import FederationConfig, XmppConfig
from parley.settings import Settings
from tests.e2e.test_federation_matrix import api, eventually, parley_messages, view
from tests.support.live import LiveApp, live_app
from tests.support.prosody import (  # noqa: F401 (fixture)
    C2S,
    COMPONENT,
    MUC_DOMAIN,
    SECRET,
    Prosody,
    prosody,
)

ROOM = f"partners@{MUC_DOMAIN}"


@pytest.fixture
def app(prosody: Prosody, settings: Settings) -> Iterator[LiveApp]:  # noqa: F811
    xmpp = XmppConfig("127.0.0.1", prosody.component_port, COMPONENT, SECRET, ping_interval=2.0)
    fed = FederationConfig(xmpp=xmpp, retry_max=2.0, poll_interval=1.0)
    with live_app(replace(settings, federation=fed)) as live:
        yield live


def body_of(el: Element) -> str | None:
    b = next((c for c in el if local(c.tag) == "body"), None)
    return None if b is None else b.text


def groupchat(text: str | None, mid: str, *children: Element) -> Element:
    m = Element("message", {"to": ROOM, "type": "groupchat", "id": mid})
    if text is not None:
        SubElement(m, "body").text = text
    m.extend(children)
    return m


def stanza_id(el: Element) -> str:
    sid = next((c for c in el if local(c.tag) == "stanza-id" and c.get("by") == ROOM), None)
    return el.get("id", "") if sid is None else sid.get("id", "")


def test_xmpp_conversation_end_to_end(app: LiveApp, prosody: Prosody) -> None:  # noqa: F811
    xena = C2S("xena", prosody.c2s_port).connect()
    xena.join(ROOM, "Xena")
    _, ch = api(
        app,
        "POST",
        "/v1/channels",
        "bob",
        {"kind": "group", "name": "partners", "members": ["carol"]},
    )
    cid = ch["id"]
    _, private = api(app, "POST", "/v1/channels", "bob", {"kind": "group", "name": "internal"})
    assert (
        api(
            app,
            "POST",
            f"/v1/channels/{cid}/federation",
            "eve",
            {"network": "xmpp", "remote": ROOM},
            org="other",
            roles=("admin",),
        )[0]
        == 404
    )
    status, link = api(
        app,
        "POST",
        f"/v1/channels/{cid}/federation",
        "root",
        {"network": "xmpp", "remote": ROOM},
        roles=("admin",),
    )
    assert status == 201, link

    def from_room(pred: Any) -> Element:
        return xena.wait(
            lambda el: (
                local(el.tag) == "message"
                and el.get("type") == "groupchat"
                and el.get("from", "").startswith(ROOM + "/")
                and not el.get("from", "").endswith("/Xena")
                and pred(el)
            ),
            45,
        )

    def parley_message(pred: Any) -> Any:
        return lambda: next((m for m in parley_messages(app, cid) if pred(m)), None)

    # Parley -> XMPP.
    _, hello = api(app, "POST", f"/v1/channels/{cid}/messages", "bob", {"text": "hello xmpp"})
    api(app, "POST", f"/v1/channels/{private['id']}/messages", "bob", {"text": "internal only"})
    hello_id = hello["message_id"]
    got = from_room(lambda el: body_of(el) == "hello xmpp")
    assert got.get("from") == f"{ROOM}/bob"
    bob_sid = stanza_id(got)

    # XMPP -> Parley, marked remote.
    xena.send(groupchat("hi from xmpp", "x1"))
    m = eventually(parley_message(lambda m: m["text"] == "hi from xmpp"), "xena on Parley")
    assert m["author"] == f"xmpp:{ROOM}/Xena"
    assert view(app, cid, m["id"])["remote"]["network"] == "xmpp"
    xena_msg = m["id"]
    mine = xena.wait(lambda el: el.get("id") == "x1")  # the room's reflection: its stanza-id
    xena_sid = stanza_id(mine)

    # Threads both ways.
    thread = Element("thread")
    thread.text = bob_sid
    xena.send(groupchat("thread reply from xmpp", "x2", thread))
    eventually(
        parley_message(lambda m: m["text"] == "thread reply from xmpp"), "xena's thread reply"
    )
    status, t = api(app, "GET", f"/v1/channels/{cid}/threads/{hello_id}", "bob")
    assert [r["text"] for r in t["replies"]] == ["thread reply from xmpp"]
    api(
        app,
        "POST",
        f"/v1/channels/{cid}/threads/{xena_msg}/replies",
        "bob",
        {"text": "thread reply from parley"},
    )
    got = from_room(lambda el: body_of(el) == "thread reply from parley")
    assert next(c.text for c in got if local(c.tag) == "thread") == xena_sid

    # Corrections both ways (XEP-0308).
    api(
        app,
        "PATCH",
        f"/v1/channels/{cid}/messages/{hello_id}",
        "bob",
        {"text": "hello xmpp (edited)"},
    )
    got = from_room(lambda el: body_of(el) == "hello xmpp (edited)")
    assert next(c for c in got if c.tag == f"{{{CORRECT}}}replace").get("id") == (
        f"parley-{hello_id}"
    )
    xena.send(
        groupchat("hi from xmpp (edited)", "x3", Element(f"{{{CORRECT}}}replace", {"id": "x1"}))
    )
    eventually(
        parley_message(lambda m: m["id"] == xena_msg and m["text"] == "hi from xmpp (edited)"),
        "xena's correction",
    )

    # Reactions both ways (XEP-0444).
    r = Element(f"{{{REACTIONS}}}reactions", {"id": bob_sid})
    SubElement(r, f"{{{REACTIONS}}}reaction").text = "👍"
    xena.send(groupchat(None, "x4", r))
    eventually(
        lambda: [x["emoji"] for x in view(app, cid, hello_id)["reactions"]] == ["👍"] or None,
        "xena's reaction",
    )
    api(app, "POST", f"/v1/channels/{cid}/messages/{xena_msg}/reactions", "bob", {"emoji": "🎉"})
    got = from_room(lambda el: any(c.tag == f"{{{REACTIONS}}}reactions" for c in el))
    reactions = next(c for c in got if c.tag == f"{{{REACTIONS}}}reactions")
    assert reactions.get("id") == xena_sid
    assert [c.text for c in reactions] == ["🎉"]

    # prosody restarts mid-conversation: what Parley posted meanwhile arrives.
    xena.close()
    prosody.stop()
    api(app, "POST", f"/v1/channels/{cid}/messages", "bob", {"text": "while you were down"})
    prosody.start()
    xena = C2S("xena", prosody.c2s_port).connect()  # memory storage: registers again
    xena.join(ROOM, "Xena")
    from_room(lambda el: body_of(el) == "while you were down")
    xena.send(groupchat("back again", "x5"))
    eventually(parley_message(lambda m: m["text"] == "back again"), "xena after the restart")
    back = xena.wait(lambda el: el.get("id") == "x5")

    # Retractions both ways (XEP-0424).
    api(app, "DELETE", f"/v1/channels/{cid}/messages/{hello_id}", "bob")
    got = from_room(lambda el: any(c.tag == f"{{{RETRACT}}}retract" for c in el))
    assert next(c for c in got if c.tag == f"{{{RETRACT}}}retract").get("id")
    xena.send(groupchat(None, "x6", Element(f"{{{RETRACT}}}retract", {"id": stanza_id(back)})))
    eventually(parley_message(lambda m: m["text"] == "" and m["deleted"]), "xena's retraction")

    texts = [m["text"] for m in parley_messages(app, cid)]
    assert texts.count("while you were down") == 1 and "internal only" not in texts

    # A room nobody made yet: the bridge's join creates it and submits its configuration;
    # who joins later finds what Parley said there (the room's history).
    fresh = f"fresh@{MUC_DOMAIN}"
    status, _ = api(
        app,
        "POST",
        f"/v1/channels/{private['id']}/federation",
        "root",
        {"network": "xmpp", "remote": fresh},
        roles=("admin",),
    )
    assert status == 201
    api(app, "POST", f"/v1/channels/{private['id']}/messages", "bob", {"text": "first words"})
    eventually(
        lambda: (
            api(app, "GET", f"/v1/channels/{private['id']}/federation", "bob")[1]["links"][0][
                "relayed_seq"
            ]
            >= 3
            or None
        ),
        "the relay into the new room",
    )
    xena.join(fresh, "Xena")
    got = xena.wait(
        lambda el: el.get("from", "").startswith(fresh + "/") and body_of(el) == "first words", 20
    )
    assert got.get("from") == f"{fresh}/bob"
    xena.close()
    assert SID  # the origin ids Parley sends are XEP-0359's
