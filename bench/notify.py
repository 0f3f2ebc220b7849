"""``notifications``: the notification system in-process, on a real store (SQLite in the
output dir, or ``--database-url``), as the composition root wires it, with a local Web
Push endpoint on loopback (a trio + h11 server that answers 201).

1. ``@channel`` in a channel of N members (5,000; the smoke profile fewer), every member
   with one push subscription: the post's time until its N inbox rows are stored and N
   live pushes published (the post hook), and until the N encrypted Web Pushes were
   accepted (the ``Pusher``: keep-alive lanes per origin); then, same run, the same
   pushes the way the pusher sent them before (one shared ``httpx.AsyncClient``, 32 in
   flight), as the baseline;
2. bulk creation: ``NotificationService.send`` to N recipients, repeated: rows/s;
3. the inbox: one user with 10,000 notifications; p50/p99 of ``GET``-equivalent page
   reads (50 per page, newest first, and the unread filter) through the service.

Same-run figures only; no baseline has notifications.
"""

from __future__ import annotations

import shutil
import statistics
import time
from dataclasses import replace
from functools import partial
from typing import Any

import h11
import trio

from bench.scenarios import Ctx

ORG = "bench"


class _Sink:
    """Counts what would be fanned out (the hub's work is the fanout scenario's)."""

    def __init__(self) -> None:
        self.published = 0

    def publish(self, topic: str, data: Any, **kw: Any) -> int:
        self.published += 1
        return 1

    def publish_channel_events(self, events: Any) -> None:
        pass

    def publish_channel_ephemeral(self, *a: Any) -> int:
        return 1


class _PushSink:
    """Answers every push with 201 and counts them."""

    def __init__(self) -> None:
        self.port = 0
        self.received = 0

    async def start(self, nursery: trio.Nursery) -> None:
        listeners = await nursery.start(partial(trio.serve_tcp, self._serve, 0, host="127.0.0.1"))
        self.port = listeners[0].socket.getsockname()[1]

    async def _serve(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.EndOfMessage):
                self.received += 1
                resp = h11.Response(status_code=201, headers=[("content-length", "0")])
                await stream.send_all(conn.send(resp) + (conn.send(h11.EndOfMessage()) or b""))
                conn.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                return


async def _shared_client_pushes(store: Any, pusher: Any, users: list[str]) -> float:
    """The baseline: one encrypted push per subscription of ``users`` (one notification's
    payload, encoded per subscription as the pusher does) over one shared
    ``httpx.AsyncClient`` with 32 requests in flight, as the pusher sent them before its
    lanes. Returns the seconds taken."""
    import httpx

    from parley.domain.notify_push import encode, payload_of
    from parley.store import sql

    subs = await store.read(sql.notify_prefs.subscriptions, ORG, users)
    sample = await store.read(
        sql.notifications.inbox,
        ORG,
        users[0],
        sql.notifications.InboxFilter(),
        limit=1,
        before=None,
    )
    payload = payload_of(sample[0])
    limiter = trio.CapacityLimiter(32)
    t0 = time.perf_counter()
    async with httpx.AsyncClient(timeout=10.0) as client:

        async def one(sub: Any) -> None:
            async with limiter:
                req = encode(
                    sub,
                    payload,
                    pusher.key,
                    subject="mailto:bench@localhost",
                    ttl=60,
                    urgency="high",
                    now=time.time(),
                )
                await client.post(req.url, headers=req.headers, content=req.body)

        async with trio.open_nursery() as nursery:
            for sub in subs:
                nursery.start_soon(one, sub)
    return time.perf_counter() - t0


def _count(db: Any, channel_id: str) -> int:
    row = db.one(
        "SELECT COUNT(*) FROM notifications WHERE org = ? AND channel_id = ?", (ORG, channel_id)
    )
    return int(row[0])


def _percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def _run(ctx: Ctx, members: int, inbox_size: int, bulk_rounds: int) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from parley.app import build_services
    from parley.core.notifications import NewNotification
    from parley.core.records import ChannelKind, Role
    from parley.domain.notify_push import b64url, new_private_key_pem
    from parley.settings import Settings
    from parley.store import open_store, sql

    work = ctx.out_dir / "notify-store"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    url = ctx.database_url or f"sqlite:///{work / 'bench.sqlite3'}"
    settings = Settings(jwt_secret="bench-secret-0123456789abcdef0123456789abcdef")
    settings = replace(
        settings,
        notifications=replace(settings.notifications, vapid_private_key=new_private_key_pem()),
    )
    sink = _Sink()
    push = _PushSink()
    async with open_store(url) as store, trio.open_nursery() as nursery:
        await store.migrate()
        await push.start(nursery)
        svc = build_services(
            settings, store, sink, verify=settings.token_verifier().verify, spawn=nursery.start_soon
        )
        n = svc.notify.service
        users = [f"u{i:05d}" for i in range(members)]
        tag = str(time.time_ns())
        ch = await svc.channels.create_channel(ORG, "author", kind="group", name=f"all-{tag}")

        key = ec.generate_private_key(ec.SECP256R1()).public_key()
        p256dh = b64url(
            key.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )
        auth = b64url(b"0123456789abcdef")

        def setup(tx: Any) -> None:
            for u in users:
                sql.members.add_member(tx, ORG, ch.id, u, role=Role.MEMBER, actor="author")
                sql.notify_prefs.add_subscription(
                    tx, ORG, u, f"http://127.0.0.1:{push.port}/p/{u}", p256dh, auth, now_us=0
                )

        await store.write(setup)
        assert ch.kind == ChannelKind.GROUP
        before = sink.published
        t0 = time.perf_counter()
        await svc.messages.post_message(ORG, "author", ch.id, "@channel standup in 5")
        t_rows = time.perf_counter() - t0
        live = sink.published - before
        pusher = svc.notify.push
        assert pusher is not None
        t1 = time.perf_counter()
        pushed = await pusher.flush()
        t_push = time.perf_counter() - t1
        rows = await store.read(_count, ch.id)
        accepted = push.received
        t_shared = await _shared_client_pushes(store, pusher, users)
        ctx.log(
            f"{'notify':>10}  @channel to {members}: {t_rows * 1e3:.0f} ms to store + publish "
            f"{live} live pushes; {t_push:.2f} s for {accepted} Web Pushes "
            f"({accepted / t_push:,.0f}/s; one shared client: {t_shared:.2f} s, "
            f"{(push.received - accepted) / t_shared:,.0f}/s)"
        )

        # Bulk creation through the one fan-out (preferences read, one write, publishes).
        rates = []
        for r in range(bulk_rounds):
            t0 = time.perf_counter()
            made = await n.send(
                ORG,
                users,
                type_="bench",
                priority="low",
                title=f"bulk {r}",
                body="",
                link={},
                actor=None,
                source={"kind": "service"},
            )
            rates.append(len(made) / (time.perf_counter() - t0))
        ctx.log(f"{'notify':>10}  bulk send: {statistics.median(rates):,.0f} notifications/s")

        # One user with inbox_size notifications; page reads.
        reader = "reader"
        items = [
            NewNotification(ORG, reader, "bench", "normal", f"n{i}", "body", {}, None, {})
            for i in range(inbox_size)
        ]
        for i in range(0, inbox_size, 2000):
            await store.write(
                sql.notifications.insert, items[i : i + 2000], now_us=0, email_delay_us=0
            )
        lat: list[float] = []
        unread_lat: list[float] = []
        cursor = None
        for k in range(300):
            t0 = time.perf_counter()
            _, cursor = await n.inbox(ORG, reader, limit=50, cursor=cursor)
            lat.append((time.perf_counter() - t0) * 1e3)
            if cursor is None or k % 20 == 19:
                cursor = None
            t0 = time.perf_counter()
            await n.inbox(ORG, reader, limit=50, cursor=None, unread=True)
            unread_lat.append((time.perf_counter() - t0) * 1e3)
        nursery.cancel_scope.cancel()
    shutil.rmtree(work, ignore_errors=True)
    out: dict[str, Any] = {
        "members": members,
        "channel_rows": rows,
        "channel_live_pushes": live,
        "channel_store_ms": t_rows * 1e3,
        "web_pushes": pushed,
        "web_pushes_accepted": accepted,
        "web_push_s": t_push,
        "web_push_per_s": accepted / t_push,
        "web_push_shared_client_s": t_shared,
        "web_push_shared_client_per_s": (push.received - accepted) / t_shared,
        "bulk_per_s": statistics.median(rates),
        "inbox_size": inbox_size,
        "inbox_page_ms": {"p50": statistics.median(lat), "p99": _percentile(lat, 0.99)},
        "inbox_unread_ms": {
            "p50": statistics.median(unread_lat),
            "p99": _percentile(unread_lat, 0.99),
        },
    }
    ctx.log(
        f"{'notify':>10}  inbox of {inbox_size}: page p50 {out['inbox_page_ms']['p50']:.2f} ms,"
        f" p99 {out['inbox_page_ms']['p99']:.2f} ms"
    )
    return out


def scenario_notifications(ctx: Ctx) -> dict[str, Any]:
    smoke = ctx.profile.name == "smoke"
    members, inbox_size, bulk = (200, 1000, 2) if smoke else (5000, 10_000, 3)
    try:
        summary = trio.run(_run, ctx, members, inbox_size, bulk)
    except (ImportError, OSError) as exc:
        ctx.step()
        return {"skipped": f"{type(exc).__name__}: {exc}"}
    ctx.step()
    return {
        "description": "In-process on a real store: @channel to every member (inbox rows, "
        "live pushes, then encrypted Web Pushes to a loopback endpoint), bulk sends, and "
        "inbox page reads for one user.",
        "params": {
            "members": members,
            "inbox_size": inbox_size,
            "bulk_rounds": bulk,
            "store": "postgresql" if ctx.database_url else "sqlite",
        },
        "runs": [],
        "summary": summary,
    }


def markdown(s: dict[str, Any]) -> list[str]:
    if "skipped" in s:
        return ["## notifications", "", f"Skipped: {s['skipped']}", ""]
    m = s["summary"]
    return [
        "## notifications - inbox rows, pushes, bulk creation, inbox pages",
        "",
        s["description"],
        "",
        "| measure | value | issue's target |",
        "|---|---|---|",
        f"| @channel to {m['members']}: {m['channel_rows']} rows stored + live pushes | "
        f"{m['channel_store_ms']:.0f} ms | < 1 s |",
        f"| ... then {m['web_pushes_accepted']} encrypted Web Pushes accepted | "
        f"{m['web_push_s']:.2f} s ({m['web_push_per_s']:,.0f}/s) | < 1 s (with the rows) |",
        f"| ... the same pushes over one shared httpx client, 32 in flight (before) | "
        f"{m['web_push_shared_client_s']:.2f} s ({m['web_push_shared_client_per_s']:,.0f}/s) | |",
        f"| bulk creation | {m['bulk_per_s']:,.0f} /s | >= 20,000 /s |",
        f"| inbox page p50 / p99 ({m['inbox_size']} notifications) | "
        f"{m['inbox_page_ms']['p50']:.2f} / {m['inbox_page_ms']['p99']:.2f} ms | p99 < 10 ms |",
        f"| unread page p50 / p99 | {m['inbox_unread_ms']['p50']:.2f} / "
        f"{m['inbox_unread_ms']['p99']:.2f} ms | |",
        "",
    ]
