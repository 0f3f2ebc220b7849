"""Helpers of the domain feature tests."""

from __future__ import annotations

from typing import Any

import pytest

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.domain.services import Services
from tests.support.api import RecordingSink


async def refused(code: ErrorCode, coro: Any) -> None:
    with pytest.raises(ClientError) as exc:
        await coro
    assert exc.value.code is code, exc.value.message


async def channel(svc: Services, org: str, members: list[str] | None = None) -> str:
    members = ["bob", "carol"] if members is None else members
    ch = await svc.channels.create_channel(org, "alice", kind="group", name="g", members=members)
    return ch.id


def log(sink: RecordingSink, cid: str) -> list[tuple[int, str]]:
    return [(e.seq, str(e.event)) for e in sink.channel_events if e.channel_id == cid]
