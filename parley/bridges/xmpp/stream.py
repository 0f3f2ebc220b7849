"""An XMPP XML stream, sans-IO: bytes in, stream events out (the stream's opening
attributes, each complete top-level stanza as an Element, the stream's end). No sockets,
no clock: the component (and the tests' client) feed it what they read.

Remote input is untrusted: a stanza larger than :data:`MAX_STANZA_BYTES` or any DTD or
processing instruction after the XML declaration ends the stream with an error (no
entity expansion is possible without a DTD)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, ParseError, XMLPullParser, tostring

STREAM_NS = "http://etherx.jabber.org/streams"
COMPONENT_NS = "jabber:component:accept"
CLIENT_NS = "jabber:client"
#: Largest stanza accepted (bytes of XML).
MAX_STANZA_BYTES = 256 * 1024


class StreamError(Exception):
    """The peer broke the stream (bad XML, too large, DTD): close the connection."""


@dataclass(frozen=True, slots=True)
class StreamOpened:
    attrs: dict[str, str]


@dataclass(frozen=True, slots=True)
class Stanza:
    element: Element

    @property
    def tag(self) -> str:
        """The local name (``message``, ``presence``, ``iq``, ``handshake``...)."""
        return self.element.tag.rsplit("}", 1)[-1]


@dataclass(frozen=True, slots=True)
class StreamClosed:
    pass


Event = StreamOpened | Stanza | StreamClosed


class XmlStream:
    def __init__(self) -> None:
        self._parser: XMLPullParser[Element] = XMLPullParser(events=("start", "end"))
        self._depth = 0
        self._root: Element | None = None
        self._pending = 0
        self._started = False

    def feed(self, data: bytes) -> list[Event]:
        if not data:
            return []
        if b"<!" in data:
            raise StreamError("DTDs and comments are not allowed in XMPP streams")
        self._pending += len(data)
        if self._pending > MAX_STANZA_BYTES:
            raise StreamError(f"stanza larger than {MAX_STANZA_BYTES} bytes")
        try:
            self._parser.feed(data)
            return self._events()
        except ParseError as exc:
            raise StreamError(f"bad XML: {exc}") from None

    def _events(self) -> list[Event]:
        out: list[Event] = []
        for item in self._parser.read_events():
            kind: str = item[0]
            elem: Any = item[1] if len(item) > 1 else None
            assert isinstance(elem, Element)
            if kind == "start":
                self._depth += 1
                if self._depth == 1:
                    if elem.tag != f"{{{STREAM_NS}}}stream":
                        raise StreamError(f"not an XMPP stream: {elem.tag}")
                    self._root = elem
                    out.append(StreamOpened(dict(elem.attrib)))
            else:
                self._depth -= 1
                if self._depth == 1:
                    out.append(Stanza(elem))
                    if self._root is not None:
                        self._root.remove(elem)  # keep no history
                    self._pending = 0
                elif self._depth == 0:
                    out.append(StreamClosed())
        return out


def open_stream(to: str, *, ns: str = COMPONENT_NS, version: bool = False) -> bytes:
    v = " version='1.0'" if version else ""
    return (
        f"<?xml version='1.0'?><stream:stream xmlns='{ns}' xmlns:stream='{STREAM_NS}'"
        f" to='{_attr(to)}'{v}>"
    ).encode()


CLOSE_STREAM = b"</stream:stream>"


def handshake(stream_id: str, secret: str) -> bytes:
    """XEP-0114: the hex SHA-1 of the stream id followed by the shared secret."""
    digest = hashlib.sha1((stream_id + secret).encode(), usedforsecurity=False).hexdigest()
    return f"<handshake>{digest}</handshake>".encode()


def serialize(element: Element) -> bytes:
    """A stanza as bytes in the stream's default namespace (no ``ns0:`` prefixes: the
    caller builds elements with un-namespaced tags and explicit ``xmlns`` attributes)."""
    data: bytes = tostring(element, encoding="utf-8", xml_declaration=False)
    return data


def _attr(s: str) -> str:
    return s.replace("&", "&amp;").replace("'", "&apos;").replace("<", "&lt;")


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def ns_of(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def child(elem: Element, name: str, ns: str) -> Element | None:
    return elem.find(f"{{{ns}}}{name}")
