"""XMPP as Parley maps it (sans-IO; docs/federation.md#xmpp): puppet JIDs, MUC joins and
room configuration, the groupchat stanzas Parley sends (XEP-0308 corrections, XEP-0424
retractions, XEP-0444 reactions, XEP-0359 origin ids) and the ones it takes in.

Remote ids in the id map: ``o:<occupant JID>#<message id>`` (what corrections name),
``s:<stanza-id>`` (XEP-0359, given by the room: what retractions and reactions name in
groupchat) and ``r:<occupant>#<target>#<emoji>`` (one remote reaction)."""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element, SubElement

from parley.bridges.xmpp.stream import child, local
from parley.domain.federation import Incoming, InKind, Outgoing, OutKind, RemoteSender

MUC = "http://jabber.org/protocol/muc"
MUC_USER = "http://jabber.org/protocol/muc#user"
MUC_OWNER = "http://jabber.org/protocol/muc#owner"
XDATA = "jabber:x:data"
CORRECT = "urn:xmpp:message-correct:0"
RETRACT = "urn:xmpp:message-retract:1"
REACTIONS = "urn:xmpp:reactions:0"
SID = "urn:xmpp:sid:0"
PING = "urn:xmpp:ping"
FALLBACK = "urn:xmpp:fallback:0"
HINTS = "urn:xmpp:hints"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
RESOURCE = "parley"
BOT_LOCAL = "parley-bridge"
#: Longest nick Parley uses in a room.
MAX_NICK_CHARS = 48
_LOCAL_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-_")


def escape_local(s: str) -> str:
    """A JID localpart from any string: lowercase letters, digits and ``.-`` kept,
    everything else (``_`` too, the separator) as ``=xx`` per UTF-8 byte."""
    out = []
    for ch in s:
        if ch in _LOCAL_OK and ch != "_":
            out.append(ch)
        else:
            out.extend(f"={b:02x}" for b in ch.encode("utf-8"))
    return "".join(out)


def puppet_jid(domain: str, org: str, user_id: str) -> str:
    return f"{escape_local(org)}_{escape_local(user_id)}@{domain}/{RESOURCE}"


def bot_jid(domain: str) -> str:
    return f"{BOT_LOCAL}@{domain}/{RESOURCE}"


def bare(jid: str) -> str:
    return jid.split("/", 1)[0]


def resource(jid: str) -> str:
    return jid.split("/", 1)[1] if "/" in jid else ""


def nick_for(display_name: str) -> str:
    nick = "".join(c for c in display_name if c.isprintable() and c not in "/@").strip()
    return (nick or "parley")[:MAX_NICK_CHARS]


def message_id(item: Outgoing) -> str:
    """The stanza id of a relayed message: its origin id (XEP-0359), stable per message,
    so a correction or retraction names it, and per edit for corrections."""
    if item.kind is OutKind.POST:
        return f"parley-{item.message_id}"
    return f"parley-{item.message_id}-{item.kind.value}-{item.seq}"


def raw_id(remote_id: str) -> str:
    """The XMPP id inside a remote id of the map."""
    if remote_id.startswith("s:"):
        return remote_id[2:]
    return remote_id.rsplit("#", 1)[-1]


# -- what Parley sends ------------------------------------------------------------------


def join(frm: str, room: str, nick: str) -> Element:
    p = Element("presence", {"from": frm, "to": f"{room}/{nick}"})
    x = SubElement(p, "x", {"xmlns": MUC})
    SubElement(x, "history", {"maxstanzas": "0"})
    return p


def leave(frm: str, room: str, nick: str) -> Element:
    return Element("presence", {"from": frm, "to": f"{room}/{nick}", "type": "unavailable"})


def configure_room(frm: str, room: str, iq_id: str) -> Element:
    """XEP-0045 §10.1.2: accept the default configuration (an instant room), which
    unlocks a room the bridge created."""
    iq = Element("iq", {"from": frm, "to": room, "type": "set", "id": iq_id})
    q = SubElement(iq, "query", {"xmlns": MUC_OWNER})
    SubElement(q, "x", {"xmlns": XDATA, "type": "submit"})
    return iq


def self_ping(frm: str, occupant: str, iq_id: str) -> Element:
    """XEP-0410: ping our own occupant JID; an error other than service-unavailable or
    feature-not-implemented means we are no longer joined."""
    iq = Element("iq", {"from": frm, "to": occupant, "type": "get", "id": iq_id})
    SubElement(iq, "ping", {"xmlns": PING})
    return iq


def _message(frm: str, room: str, sid: str, body: str | None) -> Element:
    m = Element("message", {"from": frm, "to": room, "type": "groupchat", "id": sid})
    if body is not None:
        SubElement(m, "body").text = body
    SubElement(m, "origin-id", {"xmlns": SID, "id": sid})
    return m


def outgoing(
    item: Outgoing, frm: str, room: str, my_reactions: list[str], target: str | None = None
) -> Element:
    """The groupchat stanza of one relayed event. For reactions, ``target`` is the remote
    id of the message and ``my_reactions`` the author's current reactions to it (XEP-0444
    sends the whole set)."""
    sid = message_id(item)
    if item.kind is OutKind.POST:
        files = " ".join(f"[file: {a.name}]" for a in item.attachments)  # files do not map
        m = _message(frm, room, sid, item.text or files)
        if item.thread_root is not None:
            SubElement(m, "thread").text = raw_id(item.thread_root)
        return m
    if item.kind is OutKind.EDIT:
        m = _message(frm, room, sid, item.text)
        SubElement(m, "replace", {"xmlns": CORRECT, "id": f"parley-{item.message_id}"})
        return m
    if item.kind is OutKind.DELETE:
        assert item.target is not None
        m = _message(frm, room, sid, "(retracted a message)")
        SubElement(m, "retract", {"xmlns": RETRACT, "id": raw_id(item.target)})
        SubElement(m, "fallback", {"xmlns": FALLBACK, "for": RETRACT})
        SubElement(m, "store", {"xmlns": HINTS})
        return m
    # REACT / UNREACT: the whole set, on the target message
    assert target is not None
    m = _message(frm, room, sid, None)
    r = SubElement(m, "reactions", {"xmlns": REACTIONS, "id": raw_id(target)})
    for e in my_reactions:
        SubElement(r, "reaction").text = e
    SubElement(m, "store", {"xmlns": HINTS})
    return m


# -- what comes in ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Groupchat:
    """A groupchat message from a remote occupant, as parsed (not yet trusted)."""

    room: str
    occupant: str
    id: str
    stanza_id: str | None
    incoming: Incoming | None
    #: XEP-0444: the occupant's whole set of reactions to ``reaction_target``.
    reactions: tuple[str, ...] | None = None
    reaction_target: str | None = None


def parse_groupchat(m: Element) -> Groupchat | None:
    if m.get("type") != "groupchat":
        return None
    occupant = m.get("from", "")
    room, nick = bare(occupant), resource(occupant)
    if not nick:
        return None  # from the room itself (subject, status)
    mid = m.get("id") or ""
    sid_el = None
    for el in m:
        if local(el.tag) == "stanza-id" and el.get("by") == room:
            sid_el = el
    stanza_id = None if sid_el is None else sid_el.get("id")
    if child(m, "subject", m.tag[1:].split("}")[0] if m.tag.startswith("{") else "") is not None:
        return None
    who = RemoteSender(occupant, nick, room.split("@", 1)[-1])
    key = f"s:{stanza_id}" if stanza_id else f"o:{occupant}#{mid}"
    body_el = next((el for el in m if local(el.tag) == "body"), None)
    body = body_el.text if body_el is not None and body_el.text else ""
    elems = {local(el.tag): el for el in m}
    if "reactions" in elems:
        r = elems["reactions"]
        emojis = tuple(e.text or "" for e in r if local(e.tag) == "reaction")
        return Groupchat(room, occupant, mid, stanza_id, None, emojis, r.get("id"))
    if "retract" in elems:
        target = elems["retract"].get("id")
        if not target:
            return None
        inc = Incoming(InKind.REDACT, key, who, target=target)
        return Groupchat(room, occupant, mid, stanza_id, inc)
    if "replace" in elems:
        target = elems["replace"].get("id")
        if not target or not body:
            return None
        inc = Incoming(InKind.EDIT, key, who, text=body, target=f"o:{occupant}#{target}")
        return Groupchat(room, occupant, mid, stanza_id, inc)
    if not body:
        return None
    thread = elems.get("thread")
    root = thread.text if thread is not None and thread.text else None
    inc = Incoming(InKind.MESSAGE, key, who, text=body, thread_root=root)
    return Groupchat(room, occupant, mid, stanza_id, inc)


def is_self_presence(p: Element) -> tuple[bool, bool]:
    """(ours, created): a MUC presence with status 110 (it is about us) and 201 (the room
    was just created: configure it)."""
    x = next(
        (el for el in p if local(el.tag) == "x" and el.tag.startswith(f"{{{MUC_USER}}}")), None
    )
    if x is None:
        return False, False
    codes = {el.get("code") for el in x if local(el.tag) == "status"}
    return "110" in codes, "201" in codes


def error_condition(stanza: Element) -> str | None:
    err = next((el for el in stanza if local(el.tag) == "error"), None)
    if err is None:
        return None
    cond = next((el for el in err if el.tag.startswith(f"{{{STANZAS}}}")), None)
    return "undefined-condition" if cond is None else local(cond.tag)
