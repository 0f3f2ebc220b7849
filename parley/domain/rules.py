"""Input rules of the chat domain (sans-IO): caps and validators shared by REST and WebSocket.

Every validator raises :class:`ClientError` with the code the client should see.
The numbers are documented in docs/rest.md.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.limits import MAX_IDEMPOTENCY_KEY_CHARS
from parley.core.records import ChannelKind, Member, Role

#: Longest channel name (characters). Group and broadcast names must be non-empty.
MAX_NAME_CHARS = 100
#: Longest channel topic/description (characters).
MAX_TOPIC_CHARS = 500
#: Longest user id (characters), as in a token's ``sub``.
MAX_USER_ID_CHARS = 128
#: Most members listed when creating a channel (creator excluded).
MAX_INITIAL_MEMBERS = 500
#: Largest message text, in UTF-8 bytes (16 KiB).
MAX_TEXT_BYTES = 16 * 1024
#: Longest display name (characters) and avatar URL (characters).
MAX_DISPLAY_NAME_CHARS = 64
MAX_AVATAR_URL_CHARS = 2048
#: Largest seq (a signed 64-bit integer, as stored).
MAX_SEQ = 2**63 - 1
#: Page sizes for list endpoints.
DEFAULT_PAGE_LIMIT = 50
MAX_PAGE_LIMIT = 200

#: Roles that may post in a broadcast channel and remove other members.
MODERATORS = frozenset({Role.OWNER, Role.ADMIN})


def bad(message: str) -> ClientError:
    return ClientError(ErrorCode.BAD_REQUEST, message)


def is_clean(s: str) -> bool:
    """Storable text: valid Unicode (no lone surrogates) and no NUL (PostgreSQL refuses it)."""
    if "\x00" in s:
        return False
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_clean(s: str, what: str) -> str:
    if not is_clean(s):
        raise bad(f"{what} must be valid Unicode without NUL characters")
    return s


def check_user_id(user_id: object, what: str = "user id") -> str:
    if not isinstance(user_id, str) or not user_id.strip():
        raise bad(f"{what} must be a non-empty string")
    if len(user_id) > MAX_USER_ID_CHARS:
        raise bad(f"{what} longer than {MAX_USER_ID_CHARS} characters")
    return check_clean(user_id, what)


def check_channel_name(kind: ChannelKind, name: str) -> str:
    name = check_clean(name, "name").strip()
    if len(name) > MAX_NAME_CHARS:
        raise bad(f"name longer than {MAX_NAME_CHARS} characters")
    if kind is not ChannelKind.DIRECT and not name:
        raise bad(f"a {kind} channel needs a non-empty name")
    return name


def check_channel_topic(topic: str) -> str:
    if len(topic) > MAX_TOPIC_CHARS:
        raise bad(f"topic longer than {MAX_TOPIC_CHARS} characters")
    return check_clean(topic, "topic")


def check_initial_members(kind: ChannelKind, creator: str, members: list[str]) -> list[str]:
    """Deduplicate (order kept, creator dropped); a direct channel needs exactly one other."""
    if len(members) > MAX_INITIAL_MEMBERS:
        raise bad(f"at most {MAX_INITIAL_MEMBERS} members when creating a channel")
    seen: dict[str, None] = {}
    for m in members:
        check_user_id(m, "member id")
        if m != creator:
            seen[m] = None
    others = list(seen)
    if kind is ChannelKind.DIRECT and len(others) != 1:
        raise bad("a direct channel has exactly two members: you and one other user")
    return others


def check_text(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise bad("text must be a non-empty string")
    check_clean(text, "text")
    if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
        raise ClientError(
            ErrorCode.PAYLOAD_TOO_LARGE, f"text larger than {MAX_TEXT_BYTES} bytes (UTF-8)"
        )
    return text


def check_idempotency_key(key: object) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not key:
        raise bad("idempotency_key must be a non-empty string")
    if len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise bad(f"idempotency_key longer than {MAX_IDEMPOTENCY_KEY_CHARS} characters")
    return check_clean(key, "idempotency_key")


def check_seq(seq: object, what: str = "seq") -> int:
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SEQ:
        raise bad(f"{what} must be an integer from 0 to {MAX_SEQ}")
    return seq


def check_limit(limit: object, *, default: int = DEFAULT_PAGE_LIMIT, cap: int) -> int:
    if limit is None:
        return min(default, cap)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise bad("limit must be an integer of at least 1")
    return min(limit, cap)


def check_display_name(name: str | None) -> str | None:
    if name is None:
        return None
    name = check_clean(name, "display_name").strip()
    if not name:
        raise bad("display_name must be non-empty (or null to clear it)")
    if len(name) > MAX_DISPLAY_NAME_CHARS:
        raise bad(f"display_name longer than {MAX_DISPLAY_NAME_CHARS} characters")
    return name


def check_avatar_url(url: str | None) -> str | None:
    if url is None:
        return None
    if len(url) > MAX_AVATAR_URL_CHARS:
        raise bad(f"avatar_url longer than {MAX_AVATAR_URL_CHARS} characters")
    if not is_clean(url) or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise bad("avatar_url must be valid Unicode without whitespace or control characters")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise bad("avatar_url is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise bad("avatar_url must be an absolute http(s) URL")
    return url


def can_post(kind: ChannelKind, role: Role) -> bool:
    return kind is not ChannelKind.BROADCAST or role in MODERATORS


def check_add_member(kind: ChannelKind, actor: Member, role: Role) -> None:
    """Any member may add members; granting admin needs a moderator, owner needs an owner."""
    if kind is ChannelKind.DIRECT:
        raise ClientError(ErrorCode.FORBIDDEN, "a direct channel's members cannot change")
    if role is Role.OWNER and actor.role is not Role.OWNER:
        raise ClientError(ErrorCode.FORBIDDEN, "only an owner may add an owner")
    if role is Role.ADMIN and actor.role not in MODERATORS:
        raise ClientError(ErrorCode.FORBIDDEN, "only an owner or admin may add an admin")


def check_remove_member(kind: ChannelKind, actor: Member, target: Member) -> None:
    """Members may leave; owners remove anyone; admins remove members and admins."""
    if kind is ChannelKind.DIRECT:
        raise ClientError(ErrorCode.FORBIDDEN, "a direct channel's members cannot change")
    if actor.user_id == target.user_id:
        return
    if actor.role is Role.OWNER:
        return
    if actor.role is Role.ADMIN and target.role is not Role.OWNER:
        return
    raise ClientError(ErrorCode.FORBIDDEN, "only an owner or admin may remove other members")
