"""Command handling for one connection, sans-IO: text in, frames queued, async work out.

Synchronous ops (subscribe, unsubscribe, publish, ping, refresh) are answered at once.
Ops that need the store (post, read, subscribe with ``since``) come back as a
:class:`Deferred` for the connection's op worker, so the reader never blocks on them.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from parley.broker.access import DEFAULT_POLICY, TopicPolicy
from parley.broker.auth import TokenVerifier
from parley.broker.client import Client
from parley.broker.hub import Hub
from parley.broker.protocol import (
    CONVERSATION_OPS,
    Command,
    CommandError,
    Op,
    channel_event_frame,
    error_frame,
    field,
    hello_frame,
    ok_frame,
    parse_command,
)
from parley.broker.recovery import merge
from parley.core.claims import Claims
from parley.core.codes import CloseCode, ErrorCode
from parley.core.errors import AuthError, ClientError, CloseConnection, Unavailable
from parley.core.limits import MAX_IDEMPOTENCY_KEY_CHARS, Limits
from parley.core.ports import ChannelOps
from parley.core.ratelimit import TokenBucket
from parley.core.records import Draft
from parley.core.times import rfc3339, utc_now
from parley.core.topics import (
    USER_SOURCE,
    check_org,
    matches,
    parse_pattern,
    parse_topic,
)

log = logging.getLogger("parley.broker")

#: Errors that count toward ``Limits.max_bad_frames`` (the client is not speaking the protocol).
BAD_FRAME_CODES = frozenset({ErrorCode.BAD_JSON, ErrorCode.BAD_REQUEST, ErrorCode.UNKNOWN_OP})
#: Channels one ``subscribe`` replays; the rest are listed in the reply's ``more``.
MAX_RECOVER_CHANNELS = 100
#: Entries a ``since`` may hold (about 40 KiB of JSON, inside ``max_frame_bytes``).
MAX_SINCE_CHANNELS = 1000
#: Log events read per store call during recovery (what is held in memory at once).
RECOVERY_PAGE = 256
#: Part of the outbox a replay leaves free for the held-back live events and the reply.
REPLAY_RESERVE = 8


@dataclass(frozen=True, slots=True)
class Deferred:
    cid: int
    run: Callable[[], Awaitable[None]]
    #: Set for a plain ``post``: the op worker may run it together with the posts queued
    #: right behind it (:meth:`Session.run_posts`), which answers exactly as running each
    #: in turn would, in the same order, but shares one write batch and one flush.
    draft: Draft | None = None


def failure_frame(cid: int, exc: Exception) -> bytes:
    """The reply to a store-bound op that failed with ``exc``."""
    if isinstance(exc, ClientError):
        return error_frame(cid, exc.code, exc.message)
    if isinstance(exc, Unavailable):  # an outage, logged once by the store
        return error_frame(cid, ErrorCode.UNAVAILABLE, f"unavailable, retry in {exc.retry_after} s")
    log.error("op %s failed", cid, exc_info=exc)
    return error_frame(cid, ErrorCode.INTERNAL, "internal error")


@dataclass(frozen=True, slots=True)
class _Plan:
    """A subscribe's recovery: channel -> position (None: from its current seq) to replay
    now, channels left for another subscribe, channels already recovering."""

    batch: dict[str, int | None]
    more: list[str]
    busy: list[str]


def new_session_id() -> str:
    return "s_" + secrets.token_urlsafe(12)


class Session:
    def __init__(
        self,
        client: Client,
        hub: Hub,
        limits: Limits,
        *,
        ops: ChannelOps | None,
        verifier: TokenVerifier,
        now: float,
        policy: TopicPolicy = DEFAULT_POLICY,
    ) -> None:
        self.client = client
        self.hub = hub
        self.limits = limits
        self.ops = ops
        self.verifier = verifier
        self.policy = policy
        self.bad_frames = 0
        self._bucket = TokenBucket(limits.publish_rate, limits.publish_burst, now)

    @property
    def claims(self) -> Claims:
        return self.client.claims

    def hello(self, keepalive: dict[str, float]) -> bytes:
        return hello_frame(
            self.client.session_id, self.claims, keepalive, self.limits.as_dict(), utc_now()
        )

    # -- entry point ------------------------------------------------------------
    def handle_text(self, text: str, now: float) -> Deferred | None:
        """Handle one inbound text message. Raises CloseConnection when the connection
        must close (too many bad frames)."""
        cid: int | None = None
        try:
            cmd = parse_command(text)
            cid = cmd.id
            self.hub.presence.activity(self.client)
            return self._dispatch(cmd, now)
        except CommandError as exc:
            self._refuse(exc.id, exc.code, exc.message)
        except ClientError as exc:
            self._refuse(cid, exc.code, exc.message)
        return None

    def _refuse(self, cid: int | None, code: ErrorCode, message: str) -> None:
        self.client.send(error_frame(cid, code, message))
        if code in BAD_FRAME_CODES:
            self.bad_frames += 1
            if self.bad_frames >= self.limits.max_bad_frames:
                raise CloseConnection(CloseCode.POLICY_VIOLATION, "too many bad frames")

    def _dispatch(self, cmd: Command, now: float) -> Deferred | None:
        op = cmd.op
        if op is Op.PUBLISH:
            self._publish(cmd, now)
        elif op is Op.SUBSCRIBE:
            return self._subscribe(cmd)
        elif op is Op.UNSUBSCRIBE:
            pattern = field(cmd.body, "topic", str, cmd.id)
            if not self.hub.unsubscribe(self.client, pattern):
                raise ClientError(ErrorCode.NOT_SUBSCRIBED, f"not subscribed to {pattern!r}")
            self.client.send(ok_frame(cmd.id, {"topic": pattern}))
        elif op is Op.PING:
            self.client.send(ok_frame(cmd.id, {"ts": rfc3339(utc_now())}))
        elif op is Op.REFRESH:
            self._refresh(cmd)
        elif op is Op.POST:
            return self._post(cmd)
        elif op is Op.READ:
            return self._read(cmd)
        elif op in CONVERSATION_OPS:
            return self._conversation(cmd)
        elif op is Op.TYPING:
            channel = field(cmd.body, "channel", str, cmd.id)
            sent = self.hub.presence.typing(self.client, channel, now)
            self.client.send(ok_frame(cmd.id, {"channel": channel, "sent": sent}))
        elif op is Op.PRESENCE:
            self._presence(cmd)
        return None

    def _presence(self, cmd: Command) -> None:
        status = cmd.body.get("status")
        if status not in ("online", "away"):
            raise ClientError(ErrorCode.BAD_REQUEST, "'status' must be 'online' or 'away'")
        now_status = self.hub.presence.set_away(self.client, status == "away")
        self.client.send(ok_frame(cmd.id, {"status": now_status.value}))

    # -- sync ops -----------------------------------------------------------------
    def _publish(self, cmd: Command, now: float) -> None:
        parts = parse_topic(cmd.body.get("topic"))
        check_org(parts, self.claims.org)
        if "data" not in cmd.body:
            raise ClientError(ErrorCode.BAD_REQUEST, "'data' is required")
        if not self.policy.may_publish(self.claims, parts):
            org = self.claims.org
            where = ", ".join(
                f"events.{org}.{'.'.join(ns.prefix)}.>"
                for ns in self.policy.publishable(self.claims)
            )
            raise ClientError(
                ErrorCode.FORBIDDEN,
                f"publishing to this topic needs the service role (clients may publish "
                f"under {where or 'no namespace'})",
            )
        self._take_token(now)
        n = self.hub.publish(cmd.body["topic"], cmd.body["data"])
        self.hub.client_published(cmd.body["topic"], cmd.body["data"])
        self.client.send(ok_frame(cmd.id, {"deliveries": n}))

    def _take_token(self, now: float) -> None:
        """One publish from this connection's bucket and its user's (shared by all the
        user's connections); a refusal takes from neither."""
        lim = self.limits
        user_bucket = None
        user = self.client.user
        if user is not None:
            user_bucket = user.publish_bucket
            if user_bucket is None:
                user_bucket = user.publish_bucket = TokenBucket(
                    lim.user_publish_rate, lim.user_publish_burst, now
                )
        if not self._bucket.has(now):
            raise ClientError(
                ErrorCode.RATE_LIMITED, f"over {lim.publish_rate:g} publishes per second"
            )
        if user_bucket is not None and not user_bucket.take(now):
            raise ClientError(
                ErrorCode.RATE_LIMITED,
                f"over {lim.user_publish_rate:g} publishes per second for this user",
            )
        self._bucket.take(now)

    def _subscribe(self, cmd: Command) -> Deferred | None:
        """Subscribe (or re-subscribe: the same pattern again replaces its grants and
        replays what ``since`` asks for, never an error)."""
        pattern = field(cmd.body, "topic", str, cmd.id)
        parts = parse_pattern(pattern)
        check_org(parts, self.claims.org)
        check_user_pattern(parts, self.claims.sub)
        since = _parse_since(cmd.body.get("since"), cmd.id)
        resume_all = cmd.body.get("resume_all", False)
        if not isinstance(resume_all, bool):
            raise ClientError(ErrorCode.BAD_REQUEST, "'resume_all' must be a boolean")
        entries = self.policy.narrow(parts, self.claims, self._granted_by_token(cmd))
        if not entries:
            raise ClientError(
                ErrorCode.FORBIDDEN,
                f"nothing {pattern!r} matches is readable by this connection (its roles, "
                f"the namespaces and its subscription tokens grant it)",
            )
        again = pattern in self.client.patterns
        if not again and len(self.client.patterns) >= self.limits.max_subscriptions:
            raise ClientError(
                ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                f"at most {self.limits.max_subscriptions} subscriptions per connection",
            )
        if (since or resume_all) and self.ops is None:
            raise ClientError(ErrorCode.UNAVAILABLE, "recovery needs the channel store")
        plan = self._plan_recovery(since, resume_all)
        if again:
            self.hub.unsubscribe(self.client, pattern)  # no await between: nothing is lost
        self.hub.subscribe(self.client, pattern, parts, entries)
        if plan is None:
            reply: dict[str, Any] = {"topic": pattern}
            if entries != [parts]:
                reply["granted"] = [".".join(e) for e in entries]
            if self.hub.link is None:
                self.client.send(ok_frame(cmd.id, reply))
                return None

            async def confirm() -> None:  # a cluster: once the bus has the subscription
                await self.hub.settled()
                self.client.send(ok_frame(cmd.id, reply))

            return Deferred(cmd.id, confirm)
        return Deferred(cmd.id, lambda: self._recover(cmd.id, pattern, parts, plan))

    def _plan_recovery(self, since: dict[str, int | None], resume_all: bool) -> _Plan | None:
        """Which channels this subscribe replays (at most ``MAX_RECOVER_CHANNELS``: the
        ``since`` ones first, then with ``resume_all`` the user's other channels, from
        their current position), which are left for another subscribe (``more``), and
        which are already recovering on this connection. Starts holding back their live
        events."""
        if not since and not resume_all:
            return None
        wanted: dict[str, int | None] = dict(since)
        if resume_all and self.client.user is not None:
            for channel_id in sorted(self.client.user.channels - since.keys()):
                wanted[channel_id] = None
        rec = self.client.recovering or {}
        busy = [ch for ch in wanted if ch in rec]
        for channel_id in busy:
            if channel_id in since:
                raise ClientError(ErrorCode.CONFLICT, f"{channel_id} is already recovering")
            del wanted[channel_id]
        order = list(wanted)
        batch = {ch: wanted[ch] for ch in order[:MAX_RECOVER_CHANNELS]}
        if batch:
            # Hold back live events of these channels until the replay is queued.
            held = self.client.recovering
            if held is None:
                held = self.client.recovering = {}
            for channel_id in batch:
                held[channel_id] = []
        return _Plan(batch, order[MAX_RECOVER_CHANNELS:], busy)

    def _granted_by_token(self, cmd: Command) -> tuple[str, ...]:
        """The patterns a subscription token sent with ``subscribe`` grants (none without
        one): signed like connection tokens, for the same user, with a ``topics`` claim."""
        token = cmd.body.get("token")
        if token is None:
            return ()
        if not isinstance(token, str):
            raise ClientError(ErrorCode.BAD_REQUEST, "'token' must be a string")
        try:
            claims = self.verifier.verify(token)
        except AuthError as exc:
            raise ClientError(ErrorCode.UNAUTHORIZED, exc.reason) from None
        if (claims.sub, claims.org) != (self.claims.sub, self.claims.org):
            raise ClientError(ErrorCode.FORBIDDEN, "a subscription token must be for the same user")
        if not claims.topics:
            raise ClientError(ErrorCode.FORBIDDEN, "the subscription token grants no topics")
        return claims.topics

    def _refresh(self, cmd: Command) -> None:
        token = field(cmd.body, "token", str, cmd.id)
        try:
            claims = self.verifier.verify(token)
        except AuthError as exc:
            raise ClientError(ErrorCode.UNAUTHORIZED, exc.reason) from None
        if (claims.sub, claims.org) != (self.claims.sub, self.claims.org):
            raise ClientError(ErrorCode.FORBIDDEN, "a refreshed token must be for the same user")
        self.client.claims = claims
        self.client.send(ok_frame(cmd.id, {"expires_at": int(claims.exp)}))

    # -- async ops ----------------------------------------------------------------
    def _need_ops(self) -> ChannelOps:
        if self.ops is None:
            raise ClientError(ErrorCode.UNAVAILABLE, "this server runs without channels")
        return self.ops

    def _post(self, cmd: Command) -> Deferred:
        ops = self._need_ops()
        channel = field(cmd.body, "channel", str, cmd.id)
        text = field(cmd.body, "text", str, cmd.id)
        key = cmd.body.get("idempotency_key")
        most = MAX_IDEMPOTENCY_KEY_CHARS
        if key is not None and (not isinstance(key, str) or not 0 < len(key) <= most):
            raise ClientError(
                ErrorCode.BAD_REQUEST,
                f"'idempotency_key' must be a string of 1 to {most} characters",
            )
        c = self.claims

        async def run() -> None:
            fields = await ops.post(c.org, c.sub, channel, text, key)
            self.client.send(ok_frame(cmd.id, fields))

        return Deferred(cmd.id, run, Draft(c.org, channel, c.sub, text, idempotency_key=key))

    async def run_posts(self, posts: Sequence[Deferred]) -> None:
        """Run plain posts (each ``draft`` set) queued together, in order; one reply each,
        in order, as :meth:`Deferred.run` of each in turn would send."""
        drafts = [d.draft for d in posts if d.draft is not None]
        assert len(drafts) == len(posts), "only plain posts run together"
        try:
            results = await self._need_ops().post_many(drafts)
        except Exception as exc:  # the whole group failed (e.g. the store closed)
            for d in posts:
                self.client.send(failure_frame(d.cid, exc))
            return
        for d, result in zip(posts, results, strict=True):
            if isinstance(result, Exception):
                self.client.send(failure_frame(d.cid, result))
            else:
                self.client.send(ok_frame(d.cid, result))

    def _conversation(self, cmd: Command) -> Deferred:
        """react / edit / delete / reply, run by the conversation service."""
        ops = self._need_ops()
        field(cmd.body, "channel", str, cmd.id)
        c = self.claims

        async def run() -> None:
            fields = await ops.conversation_op(c.org, c.sub, cmd.op, cmd.body)
            self.client.send(ok_frame(cmd.id, fields))

        return Deferred(cmd.id, run)

    def _read(self, cmd: Command) -> Deferred:
        ops = self._need_ops()
        channel = field(cmd.body, "channel", str, cmd.id)
        seq = field(cmd.body, "seq", int, cmd.id)
        if seq < 0:
            raise ClientError(ErrorCode.BAD_REQUEST, "'seq' must be >= 0")
        c = self.claims

        async def run() -> None:
            pos = await ops.mark_read(c.org, c.sub, channel, seq)
            self.client.send(ok_frame(cmd.id, {"channel": channel, "read_seq": pos}))

        return Deferred(cmd.id, run)

    async def _recover(self, cid: int, pattern: str, parts: list[str], plan: _Plan) -> None:
        report: dict[str, Any] = {
            ch: {"error": {"code": ErrorCode.CONFLICT, "message": f"{ch} is already recovering"}}
            for ch in plan.busy
        }
        batch = plan.batch
        try:
            await self.hub.settled()  # live events from every node before the log is read
            fresh = [ch for ch, pos in batch.items() if pos is None]
            # Read after the hold-back began: live events past these positions are held.
            positions = (
                await self._need_ops().last_seqs(self.claims.org, self.claims.sub, fresh)
                if fresh
                else {}
            )
            for channel_id, last_seen in batch.items():
                if last_seen is None and channel_id in positions:
                    start = positions[channel_id]
                    held = (self.client.recovering or {}).get(channel_id, [])
                    since_now = merge(start, [], held, truncated=False)
                    self._release(channel_id, since_now.items)
                    report[channel_id] = {"recovered": True, "replayed": 0, "replayed_to": start}
                    continue
                try:
                    if last_seen is None:
                        raise ClientError(ErrorCode.NOT_FOUND, f"not a member of {channel_id}")
                    replay, truncated = await self._read_missed(channel_id, last_seen, parts)
                except ClientError as exc:
                    # Held-back events passed the membership filter when published.
                    self._release(channel_id, None)
                    report[channel_id] = {"error": {"code": exc.code, "message": exc.message}}
                    continue
                live = (self.client.recovering or {}).get(channel_id, [])
                result = merge(last_seen, replay, live, truncated=truncated)
                frames = [(seq, f) for seq, f in result.items if f is not None]
                self._release(channel_id, frames)
                report[channel_id] = {
                    "recovered": result.complete,
                    "replayed": sum(1 for seq, _ in frames if seq <= result.replayed_to),
                    "replayed_to": result.replayed_to,
                }
        finally:
            for channel_id in batch:
                if channel_id not in report:
                    self._release(channel_id, None)
        reply: dict[str, Any] = {"topic": pattern, "recovery": report}
        if plan.more:
            reply["more"] = plan.more
        self.client.send(ok_frame(cid, reply))

    async def _read_missed(
        self, channel_id: str, last_seen: int, parts: list[str]
    ) -> tuple[list[tuple[int, bytes | None]], bool]:
        """The channel's log after ``last_seen`` as (seq, frame or None), read a page at a
        time, and whether more is left: at most ``recovery_max_events``, and no more
        frames than the outbox can take now besides a reserve for the live events and the
        reply (a replay that would overflow it would close the connection with nothing
        replayed; instead the reply says ``recovered: false`` and the client pages the rest
        over REST). Memory: the frames kept (within the outbox bound) and one page."""
        ops = self._need_ops()
        c = self.claims
        limit = self.limits.recovery_max_events
        outbox = self.client.outbox
        frames_left = outbox.max_frames - len(outbox) - outbox.max_frames // REPLAY_RESERVE
        bytes_left = outbox.max_bytes - outbox.queued_bytes - outbox.max_bytes // REPLAY_RESERVE
        held = dict((self.client.recovering or {}).get(channel_id, []))
        replay: list[tuple[int, bytes | None]] = []
        after = last_seen
        while True:
            want = min(RECOVERY_PAGE, limit - len(replay))
            page = await ops.events_after(c.org, c.sub, channel_id, after, want + 1)
            held.update((self.client.recovering or {}).get(channel_id, []))
            for ev in page[:want]:
                # Every logged seq takes part in the gap check; one outside the pattern has
                # no frame unless another subscription of this connection held it back.
                if matches(parts, ev.topic.split(".")):
                    frame: bytes | None = channel_event_frame(ev)
                else:
                    frame = held.get(ev.seq)
                if frame is not None:
                    if frames_left < 1 or bytes_left < len(frame):
                        return replay, True
                    frames_left -= 1
                    bytes_left -= len(frame)
                replay.append((ev.seq, frame))
            if len(page) <= want:
                return replay, False  # the log has no more
            if len(replay) >= limit:
                return replay, True
            after = page[want - 1].seq

    def _release(self, channel_id: str, frames: list[tuple[int, bytes]] | None) -> None:
        """End a channel's recovery: queue ``frames`` (or, if None, whatever was held back)."""
        rec = self.client.recovering
        held = rec.pop(channel_id, []) if rec is not None else []
        if rec is not None and not rec:
            self.client.recovering = None
        for _, frame in held if frames is None else frames:
            self.client.send(frame)


def check_user_pattern(parts: list[str], user_id: str) -> None:
    """A pattern naming the users source must end in the caller's own id, literally
    (``events.{org}.users.user.mentioned.{me}``); the hub also filters user topics matched
    by wider wildcards (``events.{org}.>``) to their owner."""
    if len(parts) > 2 and parts[2] == USER_SOURCE and (len(parts) != 6 or parts[5] != user_id):
        raise ClientError(
            ErrorCode.FORBIDDEN, "user topics are readable only by their user (last segment)"
        )


def _parse_since(value: object, cid: int) -> dict[str, int | None]:
    """``{channel_id: last seen seq, or null for "no position: from now"}``."""
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_SINCE_CHANNELS:
        raise CommandError(
            cid,
            ErrorCode.BAD_REQUEST,
            f"'since' must be an object of at most {MAX_SINCE_CHANNELS} channel: seq pairs",
        )
    out: dict[str, int | None] = {}
    for k, v in value.items():
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            raise CommandError(
                cid, ErrorCode.BAD_REQUEST, f"'since.{k}' must be an integer >= 0 or null"
            )
        out[k] = v
    return out
