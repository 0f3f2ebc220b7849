"""``kill -9`` of ``parley serve`` in the middle of a WebSocket post load, on SQLite and on
PostgreSQL: after a restart every acknowledged post is present exactly once, with the seq
and id its reply gave, and each channel's seqs are gapless. Posts sent but not yet
acknowledged may or may not be there (their outcome is unknown to the client, which is why
posts carry idempotency keys)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.reliability.conftest import Figures, Scale
from tests.reliability.harness import (
    ParleyServer,
    PostLoad,
    check_durable,
    create_channel,
    last_seq,
)
from tests.support.store import PgSchemas

CHANNELS = 4


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return ""  # the default: a SQLite file in the data dir
    schemas: PgSchemas = request.getfixturevalue("pg_schemas")
    return schemas.new()


def test_kill9_mid_load_loses_no_acked_post(
    database_url: str, tmp_path: Path, scale: Scale, figures: Figures
) -> None:
    posters = scale.pick(40, 100)
    kills = scale.pick(1, 3)
    server = ParleyServer(tmp_path, database_url=database_url)
    server.start()
    members = [f"p{k}" for k in range(posters)]
    channels = [create_channel(server, f"k9-{i}", members)["id"] for i in range(CHANNELS)]
    load = PostLoad(server.ws_url, channels, posters, max_posts=100_000, seconds=120)
    load.start()
    t0 = time.monotonic()
    try:
        for _ in range(kills):
            load.wait_acked(len(load.acked) + scale.pick(600, 3000), 60)
            server.kill9()  # posts in flight on every connection
            at_kill = len(load.acked)
            server.start()  # the posters reconnect on their own and go on
            load.wait_acked(at_kill + 50, 60)
    finally:
        load.stop()
    elapsed = time.monotonic() - t0
    try:
        got = check_durable(server, [load], channels, members=posters + 1)
        # and the service goes on: the next post takes the next seq
        head = last_seq(server, channels[0])
        status, reply = server.rest(
            "POST", f"/v1/channels/{channels[0]}/messages", "p0", {"text": "after"}, roles=()
        )
        assert (status, reply["seq"]) == (201, head + 1), reply
    finally:
        server.stop()
    backend = "PostgreSQL" if database_url else "SQLite"
    figures(
        f"{backend}: {posters} posters, {kills} x kill -9 in {elapsed:.1f} s: "
        f"sent {got['sent']}, acked {got['acked']}, present {got['present']} "
        f"({got['committed_unacked']} committed but unacked), lost {got['lost']}, "
        f"duplicates {got['duplicates']}, seqs gapless; outcomes {dict(load.outcomes)}"
    )
