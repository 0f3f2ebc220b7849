"""Running a blocking database call in a trio worker thread, cancellably."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import outcome
import trio

T = TypeVar("T")

log = logging.getLogger(__name__)

#: How long to wait for an interrupted call before interrupting it again (an interrupt
#: that lands between two statements has nothing to abort).
INTERRUPT_RETRY_S = 0.5


async def run_sync_cancellable(fn: Callable[[], T], interrupt: Callable[[], None]) -> T:
    """Run ``fn`` in a thread. If the caller is cancelled meanwhile, call ``interrupt`` (in
    another thread) to abort the statement, and still wait for ``fn`` to return, so the
    connection it uses is never used by two threads at once. Then raise Cancelled."""
    box: list[outcome.Outcome[T]] = []
    done = trio.Event()
    async with trio.open_nursery() as nursery:

        async def worker() -> None:
            with trio.CancelScope(shield=True):
                box.append(await trio.to_thread.run_sync(outcome.capture, fn))
            done.set()
            nursery.cancel_scope.cancel()

        nursery.start_soon(worker)
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            with trio.CancelScope(shield=True):
                while not done.is_set():
                    try:
                        await trio.to_thread.run_sync(interrupt)
                    except Exception:
                        log.warning("interrupting a database call failed", exc_info=True)
                    with trio.move_on_after(INTERRUPT_RETRY_S):
                        await done.wait()
            raise
    return box[0].unwrap()
