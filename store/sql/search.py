"""Full-text search (FTS5 on SQLite, tsvector on PostgreSQL), membership inside the query."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from parley.core.records import Message
from parley.store import codec
from parley.store.db import Db

MAX_TERMS = 16


MAX_LIMIT = 100


MAX_OFFSET = 1000


#: Words of a snippet at most, and how many come before the first match.
SNIPPET_WORDS = 24


SNIPPET_LEAD = 6


ELLIPSIS = "…"


#: A word, for the index and the query alike: a run of letters, digits and combining accents
#: (as SQLite's unicode61 tokenizer and the PostgreSQL migration's regexp see it).
_WORD = re.compile(r"(?:[^\W_]|[\u0300-\u036f])+")


_TERM = re.compile(r"(?:[^\W_]|[\u0300-\u036f])+\*?")


@dataclass(frozen=True, slots=True)
class SearchQuery:
    text: str
    channel_id: str | None = None
    author: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: True: only thread replies; False: only messages not in a thread.
    in_thread: bool | None = None
    #: True: only messages with attachments; False: only without.
    has_attachment: bool | None = None
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True, slots=True)
class SearchHit:
    message: Message
    #: Higher is better (comparable within one result list only).
    rank: float
    #: Plain text around the matches; ``highlights`` are [start, end) offsets into it.
    snippet: str
    highlights: list[tuple[int, int]]
    #: ``text`` or ``files`` (an attachment name matched).
    matched: str


def terms(text: str) -> list[tuple[str, bool]]:
    """The query's words, lower-cased, each with whether it is a prefix (``word*``).
    ValueError when there is none or too many."""
    found = [(t.rstrip("*").lower(), t.endswith("*")) for t in _TERM.findall(text)]
    if not found:
        raise ValueError("the query has no words")
    if len(found) > MAX_TERMS:
        raise ValueError(f"at most {MAX_TERMS} words")
    return found


def _dialect(db: Db) -> str:
    return "postgres" if db.for_update else "sqlite"


def _hits(word: str, words: list[tuple[str, bool]]) -> bool:
    w = word.lower()
    return any(w.startswith(t) if prefix else w == t for t, prefix in words)


def snippet(text: str, words: list[tuple[str, bool]]) -> tuple[str, list[tuple[int, int]]]:
    """A window of ``text`` around its first matching word, and the [start, end) ranges of
    the matching words in it; ``("", [])`` when no word matches. Computed here, not by
    the database, so both backends give the same snippets."""
    tokens = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    first = next((i for i, (a, b) in enumerate(tokens) if _hits(text[a:b], words)), None)
    if first is None:
        return "", []
    lo = max(0, first - SNIPPET_LEAD)
    hi = min(len(tokens), lo + SNIPPET_WORDS)
    start = 0 if lo == 0 else tokens[lo][0]
    end = len(text) if hi == len(tokens) else tokens[hi - 1][1]
    head = "" if start == 0 else ELLIPSIS
    tail = "" if end == len(text) else ELLIPSIS
    spans = [
        (a - start + len(head), b - start + len(head))
        for a, b in tokens[lo:hi]
        if _hits(text[a:b], words)
    ]
    return head + text[start:end] + tail, spans


def search_messages(db: Db, org: str, user_id: str, query: SearchQuery) -> list[SearchHit]:
    words = terms(query.text)
    if not 0 < query.limit <= MAX_LIMIT + 1:  # +1: callers ask one more to know of more
        raise ValueError(f"limit must be 1 to {MAX_LIMIT}")
    if not 0 <= query.offset <= MAX_OFFSET:
        raise ValueError(f"offset must be 0 to {MAX_OFFSET}")
    where = ["m.org = ?", "m.deleted = FALSE"]
    params: list[Any] = [org]
    if query.channel_id is not None:
        where.append("m.channel_id = ?")
        params.append(query.channel_id)
    if query.author is not None:
        where.append("m.author = ?")
        params.append(query.author)
    if query.since is not None:
        where.append("m.created_at_us >= ?")
        params.append(codec.to_us(query.since))
    if query.until is not None:
        where.append("m.created_at_us <= ?")
        params.append(codec.to_us(query.until))
    if query.has_attachment is not None:
        neg = "" if query.has_attachment else "NOT "
        where.append(
            f"{neg}EXISTS (SELECT 1 FROM attachments a WHERE a.org = m.org AND a.message_id = m.id)"
        )
    if query.in_thread is not None:
        neg = "" if query.in_thread else "NOT "
        where.append(
            f"{neg}EXISTS (SELECT 1 FROM message_meta mm WHERE mm.org = m.org"
            " AND mm.message_id = m.id AND mm.thread_root IS NOT NULL)"
        )
    member = (
        " JOIN members mb ON mb.org = m.org AND mb.channel_id = m.channel_id AND mb.user_id = ?"
    )
    if _dialect(db) == "sqlite":
        match = " ".join(f'"{w}"' + ("*" if prefix else "") for w, prefix in words)
        sql = (
            f"SELECT {codec.MESSAGE_COLS}, -bm25(messages_fts, 1.0, 0.5) AS score, m.files_text"
            f" FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid{member}"
            f" WHERE messages_fts MATCH ? AND {' AND '.join(where)}"
            " ORDER BY score DESC, m.created_at_us DESC, m.id LIMIT ? OFFSET ?"
        )
        args: list[Any] = [user_id, match, *params, query.limit, query.offset]
    else:
        tsq = " & ".join(w + (":*" if prefix else "") for w, prefix in words)
        sql = (
            f"SELECT {codec.MESSAGE_COLS}, ts_rank_cd(m.search, q) AS score, m.files_text"
            f" FROM messages m{member} CROSS JOIN to_tsquery('simple', ?) q"
            f" WHERE m.search @@ q AND {' AND '.join(where)}"
            " ORDER BY score DESC, m.created_at_us DESC, m.id LIMIT ? OFFSET ?"
        )
        args = [user_id, tsq, *params, query.limit, query.offset]
    hits: list[SearchHit] = []
    n = len(codec.MESSAGE_COLS.split(","))
    for row in db.all(sql, args):
        msg = codec.message(row)
        matched = "text"
        snip, spans = snippet(msg.text, words)
        if not spans:
            files, fspans = snippet(str(row[n + 1] or ""), words)
            if fspans:
                matched, snip, spans = "files", files, fspans
            else:  # matched across columns (words split between text and names)
                snip = msg.text[:200] + (ELLIPSIS if len(msg.text) > 200 else "")
        hits.append(
            SearchHit(
                message=msg, rank=float(row[n]), snippet=snip, highlights=spans, matched=matched
            )
        )
    return hits
