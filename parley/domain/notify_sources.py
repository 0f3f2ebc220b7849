"""The chat sources of notifications: the post hook (every way of posting runs it, after
the mentions hook) that notifies mentioned users (``@user``, ``@team``, ``@channel``, and
``@here``: the members online now when the broker runs in the process, else everyone),
the other member of a direct channel, members whose keywords the text contains,
followers of the thread a reply is in, and members who asked for every message.

Each recipient gets one notification per message, of the strongest kind that applies
(dm > mention > keyword > reply > message). The author, users who blocked the author and
non-members get nothing (docs/privacy.md). Replying follows the thread (again, after an
unfollow); the root's author follows it from its first reply unless they unfollowed.
"""

from __future__ import annotations

import re

from parley.core.notifications import DM, KEYWORD, MENTION, MESSAGE, REPLY
from parley.core.ports import PresenceLookup
from parley.core.records import PostResult
from parley.domain import content
from parley.domain.notifications import NotificationService
from parley.store import Store, sql

#: The order of strength: the first kind that applies to a recipient wins.
STRENGTH = (DM, MENTION, KEYWORD, REPLY, MESSAGE)
SNIPPET_CHARS = 300
#: The presence status ``@here`` reaches (docs/presence.md; ``away`` is not here).
ONLINE = "online"
MAX_CACHED_CHANNELS = 100_000


def _titles(kind: str, author: str, channel: str) -> str:
    where = f"#{channel}" if channel else "a channel"
    return {
        DM: f"{author} sent you a message",
        MENTION: f"{author} mentioned you in {where}",
        KEYWORD: f"{author} wrote a keyword of yours in {where}",
        REPLY: f"{author} replied in a thread in {where}",
        MESSAGE: f"{author} posted in {where}",
    }[kind]


def keyword_hit(text: str, keyword: str) -> bool:
    """``keyword`` as a whole word (or phrase) of ``text``, case-insensitively."""
    return re.search(rf"(?<!\w){re.escape(keyword)}(?!\w)", text, re.IGNORECASE) is not None


class ChatSources:
    def __init__(
        self,
        store: Store,
        notifications: NotificationService,
        presence: PresenceLookup | None = None,
    ) -> None:
        self.store = store
        self.notifications = notifications
        #: Who is online, for ``@here`` (None without a broker in the process: then
        #: ``@here`` reaches every member, as ``@channel``).
        self.presence = presence
        #: (org, channel) -> kind: a channel's kind never changes.
        self._kinds: dict[tuple[str, str], str] = {}

    async def _kind(self, org: str, cid: str) -> str | None:
        kind = self._kinds.get((org, cid))
        if kind is None:
            kind = await self.store.read(sql.notify_prefs.channel_kind, org, cid)
            if kind is not None:
                if len(self._kinds) > MAX_CACHED_CHANNELS:
                    self._kinds.clear()
                self._kinds[(org, cid)] = kind
        return kind

    async def after_post(self, result: PostResult) -> None:
        if not result.created:
            return
        m = result.message
        org, cid = m.org, m.channel_id
        root = result.event.data.get("thread_root") if result.event is not None else None
        # Most posts notify no one: a plain message in a group channel of an org where
        # nobody has keywords or an "all" level. Those cost no read.
        if (
            "@" not in m.text
            and not isinstance(root, str)
            and await self._kind(org, cid) != "direct"
            and not await self.notifications.org_has_listeners(org)
        ):
            return
        ctx = await self.store.read(sql.notify_prefs.post_context, org, cid)
        if ctx.kind is None:
            return
        kinds: dict[str, str] = {}

        def add(users: list[str], kind: str) -> None:
            for u in users:
                cur = kinds.get(u)
                if u != m.author and (cur is None or STRENGTH.index(kind) < STRENGTH.index(cur)):
                    kinds[u] = kind

        add(ctx.direct_members, DM)
        if "@" in m.text:
            add(await self._mentioned(org, cid, m.text), MENTION)
        if ctx.keywords:
            add([u for u, k in ctx.keywords if keyword_hit(m.text, k)], KEYWORD)
        if isinstance(root, str):
            add(await self._thread(org, cid, root, m.author), REPLY)
        add(ctx.everything, MESSAGE)
        if not kinds:
            return
        blockers = await self.store.read(sql.blocks.blockers_of, org, m.author, list(kinds))
        link = {"channel": cid, "message": m.id}
        if isinstance(root, str):
            link["thread"] = root
        source = {"kind": "message", "id": m.id, "seq": m.seq}
        for kind in STRENGTH:
            users = [u for u, k in kinds.items() if k == kind and u not in blockers]
            if users:
                await self.notifications.send(
                    org,
                    users,
                    type_=kind,
                    priority="high" if kind in (DM, MENTION) else "normal",
                    title=_titles(kind, m.author, ctx.name),
                    body=m.text[:SNIPPET_CHARS],
                    link=link,
                    actor=m.author,
                    source=source,
                )

    async def _mentioned(self, org: str, cid: str, text: str) -> list[str]:
        """Members the text mentions (users, teams, everyone), as the mentions hook finds
        them."""
        parsed = content.parse_mentions(text)
        if not parsed.handles and not parsed.everyone:
            return []
        if parsed.everyone:
            members = await self.store.read(sql.notify_prefs.channel_member_ids, org, cid)
            if parsed.channel or self.presence is None:
                return members
            # ``@here`` alone: the members online now, and the users it names.
            online = {
                p["user_id"] for p in self.presence.lookup(org, members) if p["status"] == ONLINE
            }
            here = [u for u in members if u in online]
            if not parsed.handles:
                return here
            return sorted(set(here) | set(await self._named(org, cid, parsed.handles)))
        return await self._named(org, cid, parsed.handles)

    async def _named(self, org: str, cid: str, handles: list[str]) -> list[str]:
        """Members the handles name: users, and the members of teams by name."""
        users: list[str] = []
        teams = await self.store.read(sql.teams.team_members_by_name, org, handles)
        for handle in handles:
            users += teams.get(handle, [handle])
        return sorted(await self.store.read(sql.notify_prefs.members_among, org, cid, users))

    async def _thread(self, org: str, cid: str, root: str, author: str) -> list[str]:
        """Followers of the thread (members only), after the author follows it."""
        root_msg = await self.store.read(sql.messages.get_message, org, cid, root)
        if root_msg is not None and root_msg.author != author:
            await self.store.write(
                sql.notify_prefs.follow, org, root, root_msg.author, True, keep=True
            )
        await self.store.write(sql.notify_prefs.follow, org, root, author, True)
        followers = await self.store.read(sql.notify_prefs.followers, org, root)
        followers = [f for f in followers if f != author]
        return sorted(await self.store.read(sql.notify_prefs.members_among, org, cid, followers))
