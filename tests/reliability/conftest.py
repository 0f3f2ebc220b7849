"""The reliability suite: short runs in every ``make test``; longer ones with
``--reliability-long`` (or ``PARLEY_RELIABILITY=long``). Each test records its figures with
the ``figures`` fixture; they are printed at the end of the run (a terminal summary
section, so CI logs show them without ``-s``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.reliability.harness import OwnPostgres

_FIGURES: list[str] = []


@dataclass(frozen=True)
class Scale:
    """How big a run is: ``pick(short, long)``."""

    long: bool

    def pick(self, short: int, long: int) -> int:
        return long if self.long else short


@pytest.fixture(scope="session")
def scale(request: pytest.FixtureRequest) -> Scale:
    flag = bool(request.config.getoption("--reliability-long", default=False))
    return Scale(flag or os.environ.get("PARLEY_RELIABILITY", "").lower() == "long")


Figures = Callable[[str], None]


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    def record(line: str) -> None:
        _FIGURES.append(f"{request.node.nodeid.split('::', 1)[-1]}: {line}")

    return record


_PORTS = iter(range(55510, 55600, 6))


@pytest.fixture
def own_pg(tmp_path_factory: pytest.TempPathFactory, pg_main_url: str) -> Iterator[OwnPostgres]:
    """A PostgreSQL of this test's own (needs the suite's PostgreSQL to be configured, so
    it skips, or fails under CI=true, exactly like the other PostgreSQL cases). Whatever a
    test did to it, it is thawed, stopped and removed afterwards."""
    pg = OwnPostgres(tmp_path_factory.mktemp("ownpg"), next(_PORTS))
    try:
        try:
            pg.start()
        except AssertionError:  # a port taken between its check and the start: once more
            pg.close()
            pg = OwnPostgres(tmp_path_factory.mktemp("ownpg"), next(_PORTS))
            pg.start()
        yield pg
    finally:
        pg.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FIGURES:
        terminalreporter.section("reliability figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)
