"""Input rules of message content (sans-IO): the Markdown subset, mentions,
emoji, team names, notes and task titles. See docs/conversation.md.

Every validator raises :class:`ClientError` with the code the client should see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import emoji

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.domain.rules import bad, check_clean

#: Longest language tag of a fenced code block.
MAX_LANG_CHARS = 32
#: Longest bookmark note, share comment is a message text (rules.MAX_TEXT_BYTES).
MAX_NOTE_CHARS = 1000
MAX_TITLE_CHARS = 300
#: Largest note body, in UTF-8 bytes (64 KiB); its Markdown: :func:`check_note_body`.
MAX_NOTE_BODY_BYTES = 64 * 1024
#: Deepest heading (``######``) and list nesting, and the longest ordered-list number.
MAX_HEADING_LEVEL = 6
MAX_LIST_DEPTH = 8
MAX_LIST_NUMBER_DIGITS = 9
MAX_TEAM_NAME_CHARS = 64
MAX_TEAM_MEMBERS = 500
#: Most distinct handles in one message that are looked up (the rest are ignored).
MAX_MENTIONS = 50
#: Longest Unicode emoji (code points: ZWJ sequences, skin tones, flags).
MAX_EMOJI_CODEPOINTS = 16
#: Special handles: every member of the channel.
EVERYONE = frozenset({"channel", "here"})

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_LANG = re.compile(r"[A-Za-z0-9_+#.-]*")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
_HANDLE = re.compile(r"(?<![\w@.])@([A-Za-z0-9](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9_-])?)")
_SHORTCODE = re.compile(r":[a-z0-9_+-]{1,64}:")
_HEADING = re.compile(r"^ {0,3}(#+)(?:[ \t]+(.*?))?[ \t]*$")
_LIST_ITEM = re.compile(r"^( *)(?:[-*+]|(\d+)[.)])(?:[ \t]+|$)")
_TEAM_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9_-])?")
#: Joiners and modifiers that may appear inside an emoji sequence.


def split_code(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The text outside fenced code blocks, and each block as (language, body).

    A fence is a line of 3+ backticks or tildes (up to 3 spaces indented); the opening
    fence's info string is the language. A block closes at a line with at least as many
    of the same character. Raises ``bad_request`` for an unclosed block or a bad language.
    """
    prose: list[str] = []
    blocks: list[tuple[str, str]] = []
    fence: str | None = None
    lang = ""
    body: list[str] = []
    for line in text.split("\n"):
        m = _FENCE.match(line)
        if fence is None:
            if m is None:
                prose.append(line)
                continue
            fence, info = m.group(1), m.group(2).strip()
            if fence[0] == "`" and "`" in info:  # not a fence: inline code on one line
                prose.append(line)
                fence = None
                continue
            lang = info.split(" ", 1)[0] if info else ""
            if len(lang) > MAX_LANG_CHARS or _LANG.fullmatch(lang) is None:
                raise bad(
                    f"code block language must be up to {MAX_LANG_CHARS} characters of"
                    " letters, digits and _+#.-"
                )
            body = []
        elif (
            m is not None
            and m.group(1)[0] == fence[0]
            and len(m.group(1)) >= len(fence)
            and (not m.group(2).strip())
        ):
            blocks.append((lang, "\n".join(body)))
            fence = None
        else:
            body.append(line)
    if fence is not None:
        raise bad("a fenced code block is not closed")
    return "\n".join(prose), blocks


def check_rich_text(text: str) -> str:
    """Stored as written; this only refuses what a renderer of the subset could not
    render as meant (see docs/conversation.md). Size and NUL are checked by
    :func:`parley.domain.rules.check_text`."""
    split_code(text)
    return text


def check_note_body(body: object) -> str:
    """A note body: the message subset (:func:`check_rich_text`) plus ATX headings and
    lists, which messages keep as plain text. Outside fenced code, a line of ``#``
    followed by a space is a heading: at most 6 ``#`` and some text; a list item (``-``,
    ``*``, ``+`` or ``1.``/``1)``) is nested by indentation, at most 8 levels (2 spaces
    a level) and an ordered number of at most 9 digits. Size: 64 KiB UTF-8 (``413``)."""
    if not isinstance(body, str):
        raise bad("body must be a string")
    check_clean(body, "body")
    if len(body.encode("utf-8")) > MAX_NOTE_BODY_BYTES:
        raise ClientError(
            ErrorCode.PAYLOAD_TOO_LARGE, f"body larger than {MAX_NOTE_BODY_BYTES} bytes (UTF-8)"
        )
    prose, _ = split_code(body)
    for n, line in enumerate(prose.split("\n"), 1):
        h = _HEADING.match(line)
        if h is not None and (h.group(2) is not None or len(h.group(1)) <= MAX_HEADING_LEVEL):
            if len(h.group(1)) > MAX_HEADING_LEVEL:
                raise bad(f"line {n}: a heading has at most {MAX_HEADING_LEVEL} '#'")
            if not (h.group(2) or "").strip("# \t"):
                raise bad(f"line {n}: a heading needs text")
            continue
        item = _LIST_ITEM.match(line)
        if item is None:
            continue
        if len(item.group(1)) // 2 >= MAX_LIST_DEPTH:
            raise bad(f"line {n}: lists nest at most {MAX_LIST_DEPTH} levels")
        number = item.group(2)
        if number is not None and len(number) > MAX_LIST_NUMBER_DIGITS:
            raise bad(f"line {n}: a list number has at most {MAX_LIST_NUMBER_DIGITS} digits")
    return body


@dataclass(frozen=True, slots=True)
class Mentions:
    handles: list[str]  # user ids or team names, in order of appearance, deduplicated
    everyone: bool  # @channel or @here
    #: ``@channel`` itself (everyone, online or not); ``everyone`` without it is ``@here``.
    channel: bool = False


def parse_mentions(text: str) -> Mentions:
    """``@handle`` outside code (fenced blocks and inline code spans). A handle is
    letters, digits and ``._-`` (not ending in ``.``); ``@channel``/``@here`` mean everyone."""
    try:
        prose, _ = split_code(text)
    except Exception:
        prose = text
    prose = _CODE_SPAN.sub(" ", prose)
    handles: dict[str, None] = {}
    everyone = channel = False
    for m in _HANDLE.finditer(prose):
        h = m.group(1)
        if h.lower() in EVERYONE:
            everyone = True
            channel = channel or h.lower() == "channel"
        elif len(handles) < MAX_MENTIONS:
            handles[h] = None
    return Mentions(list(handles), everyone, channel)


def check_emoji(value: object) -> str:
    """A ``:shortcode:`` (lowercase letters, digits, ``_+-``) or exactly one Unicode emoji:
    one emoji of the Unicode emoji list, with its skin tone, ZWJ sequence, flag or keycap
    (the ``emoji`` package, which follows the Unicode emoji data, decides). Two emoji are
    two reactions: ``"👍👍"`` and ``"🇫🇷🇩🇪"`` are refused."""
    if not isinstance(value, str) or not value:
        raise bad("emoji must be a non-empty string")
    check_clean(value, "emoji")
    if _SHORTCODE.fullmatch(value):
        return value
    if len(value) > MAX_EMOJI_CODEPOINTS:
        raise bad(f"emoji longer than {MAX_EMOJI_CODEPOINTS} code points")
    if not emoji.is_emoji(value):
        raise bad("emoji must be one Unicode emoji or a :shortcode:")
    return value


def check_note(note: str | None) -> str | None:
    if note is None:
        return None
    check_clean(note, "note")
    if len(note) > MAX_NOTE_CHARS:
        raise bad(f"note longer than {MAX_NOTE_CHARS} characters")
    return note


def check_title(title: object) -> str:
    if not isinstance(title, str) or not title.strip():
        raise bad("title must be a non-empty string")
    check_clean(title, "title")
    if len(title) > MAX_TITLE_CHARS:
        raise bad(f"title longer than {MAX_TITLE_CHARS} characters")
    return title.strip()


def check_team_name(name: object) -> str:
    if not isinstance(name, str) or _TEAM_NAME.fullmatch(name) is None:
        raise bad(
            f"team name must be 1 to {MAX_TEAM_NAME_CHARS} letters, digits and ._- "
            "(usable as an @mention)"
        )
    if name.lower() in EVERYONE:
        raise bad(f"{name!r} is reserved")
    return name
