"""PostgreSQL crashes, stops and stalls under load (a PostgreSQL of the test's own, a
``parley serve`` subprocess, WebSocket posters and a REST client at once).

While the fault lasts the service answers ``unavailable`` (WebSocket) and 503 (REST), never
500 and never an ``internal`` error, and no request hangs much past the statement timeout
(set to 1 s here). Afterwards posts succeed again on the same connections and processes.

* **stop** (``pg_ctl stop -m fast``, then started again) and **stall** (SIGSTOP of the
  postmaster and every backend, then SIGCONT): nothing acknowledged is lost.
* **crash** (SIGKILL of the postmaster, then started again): the throwaway server runs with
  ``fsync=off`` and ``synchronous_commit=off`` (docs/storage.md), so a crash *can* lose
  writes it acknowledged. What must hold there: the service recovers, no 500s, and what is
  present is consistent (no duplicates, nothing never sent, seqs gapless up to
  ``last_seq``). The figures say how many acknowledged posts the crash took.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.reliability.conftest import Figures, Scale
from tests.reliability.harness import (
    OwnPostgres,
    ParleyServer,
    PostLoad,
    RestProbe,
    check_durable,
    create_channel,
)

STATEMENT_TIMEOUT = 1.0
#: The longest a request may take during a fault: a statement to a silent server is cut
#: off 1 s past the statement timeout (the store's watchdog), the batch's retry then waits
#: for a reconnect bounded like a statement (2 s, libpq's least); a post queued behind
#: such a batch waits for it and then its own: 2 x 4 s, plus scheduling slack.
HANG_BOUND = 10.0


@pytest.mark.parametrize("fault", ["stop", "stall", "crash"])
def test_postgres_fault_under_load(
    fault: str, own_pg: OwnPostgres, tmp_path: Path, scale: Scale, figures: Figures
) -> None:
    posters = scale.pick(16, 64)
    outage = scale.pick(6, 20)
    server = ParleyServer(
        tmp_path,
        database_url=own_pg.url,
        PARLEY_DATABASE_STATEMENT_TIMEOUT=str(STATEMENT_TIMEOUT),
    )
    server.start()
    members = [f"p{k}" for k in range(posters)] + ["rest"]
    channels = [create_channel(server, f"pg-{fault}-{i}", members)["id"] for i in range(2)]
    load = PostLoad(
        server.ws_url, channels, posters, max_posts=100_000, seconds=90, reply_timeout=HANG_BOUND
    ).start()
    probe = RestProbe(server, channels[0], "rest", seconds=90, timeout=HANG_BOUND).start()
    try:
        load.wait_acked(200, 30)
        before = dict(load.outcomes)
        t0 = time.monotonic()
        frozen: list[int] = []
        if fault == "crash":
            own_pg.kill9()
        elif fault == "stop":
            own_pg.fast_stop()
        else:
            frozen = own_pg.freeze()
        time.sleep(outage)
        during = {k: v - before.get(k, 0) for k, v in load.outcomes.items()}
        acked_at_end = len(load.acked)
        if fault == "stall":
            own_pg.thaw(frozen)
        else:
            own_pg.restart()
        load.wait_acked(acked_at_end + 200, 60)
        recovered_s = time.monotonic() - t0 - outage
        n_probe = len(probe.acked)
        deadline = time.monotonic() + 30
        while len(probe.acked) == n_probe and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(probe.acked) > n_probe, ("REST did not recover", probe.statuses)
    finally:
        probe.stop()
        load.stop()
    try:
        got = check_durable(
            server, [load, probe], channels, members=len(members) + 1, may_lose=fault == "crash"
        )
    finally:
        server.stop()
    log = server.log_text()
    assert "Traceback" not in log, log[-3000:]
    assert not probe.server_errors(), probe.statuses
    assert not probe.hung, probe.hung
    assert "error internal" not in load.outcomes, load.outcomes
    assert "no reply within timeout" not in load.outcomes, load.outcomes
    # the outage was seen as an outage, not as something else
    assert during.get("error unavailable", 0) + during.get("closed 1013", 0) > 0, during
    if fault != "stall":
        # A stalled server answers nothing: the one REST client's few requests may all
        # wait out the stall and succeed after it (WebSocket posters saw the outage above).
        assert any(s.endswith("503") for s in probe.statuses), probe.statuses
    assert load.slowest_reply < HANG_BOUND and probe.slowest < HANG_BOUND
    figures(
        f"{fault} for {outage} s, {posters} WS posters + 1 REST client: WS outcomes during "
        f"the fault {during}; REST {dict(probe.statuses)}; slowest reply WS "
        f"{load.slowest_reply:.2f} s, REST {probe.slowest:.2f} s; posting again "
        f"{recovered_s:.1f} s after the fault ended; acked {got['acked']}, present "
        f"{got['present']}, acked but lost {got['lost']}"
    )
