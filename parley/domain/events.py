"""Service events: backend services publish on topics of their org (``POST /v1/events``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from parley.core.claims import Claims
from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.ports import EventSink
from parley.core.topics import check_org, parse_topic
from parley.domain import rules

#: Largest ``data`` of one service event (encoded JSON bytes) and events in one batch.
MAX_EVENT_BYTES = 64 * 1024
MAX_BATCH_EVENTS = 100


class EventService:
    def __init__(self, sink: EventSink) -> None:
        self.sink = sink

    def _check_event(self, claims: Claims, topic: object, data: object) -> str:
        if not claims.is_service:
            raise ClientError(ErrorCode.FORBIDDEN, "only service tokens may publish events")
        check_org(parse_topic(topic), claims.org)
        try:
            size = len(orjson.dumps(data))
        except TypeError:
            raise rules.bad("data must be JSON") from None
        if size > MAX_EVENT_BYTES:
            raise ClientError(
                ErrorCode.PAYLOAD_TOO_LARGE, f"event data larger than {MAX_EVENT_BYTES} bytes"
            )
        assert isinstance(topic, str)
        return topic

    def publish_event(self, claims: Claims, topic: str, data: Any) -> int:
        """Publish a service event in the caller's org; return the deliveries made."""
        checked = self._check_event(claims, topic, data)
        return self.sink.publish(checked, data)

    def publish_events(self, claims: Claims, events: Sequence[tuple[str, Any]]) -> list[int]:
        """All-or-nothing validation, then publish in order; deliveries per event."""
        if not events:
            raise rules.bad("events must not be empty")
        if len(events) > MAX_BATCH_EVENTS:
            raise rules.bad(f"at most {MAX_BATCH_EVENTS} events per batch")
        checked = [(self._check_event(claims, t, d), d) for t, d in events]
        return [self.sink.publish(t, d) for t, d in checked]
