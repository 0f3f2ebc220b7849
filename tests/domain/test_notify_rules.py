"""Notification rules, sans-IO: validation, conditions, recipients from fields, templates."""

from __future__ import annotations

from typing import Any

import pytest

from parley.core.errors import ClientError
from parley.domain.notify_rules import RuleError, check_spec, compile_rule, evaluate

ORG = "acme"
TOPIC = "events.acme.tasks.task.completed.tsk_1"


def rule(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "task done",
        "topic": "events.acme.tasks.task.completed.*",
        "recipients": {"field": "data.created_by"},
        "title": "${data.completed_by} completed ${data.title}",
        "body": "Cost: $$${data.cost}",
    }
    body.update(over)
    return body


def compiled(**over: Any) -> Any:
    name, spec, enabled = check_spec(ORG, rule(**over))
    assert name and enabled
    return compile_rule("nrule_1", ORG, spec)


KIND_TASK = {"field": "data.kind", "value": "task"}
SECOND_TAG = {"field": "data.tags.1", "value": "p2"}


def event(**data: Any) -> dict[str, Any]:
    return {"topic": TOPIC, "org": ORG, "channel": "ch_1", "data": data}


def test_a_rule_renders_and_takes_its_recipient_from_a_field() -> None:
    r = compiled(conditions=[{"field": "data.cost", "op": "gte", "value": 10}])
    assert r.matches(TOPIC.split("."))
    assert not r.matches(["events", "acme", "tasks", "task", "created", "tsk_1"])
    out = evaluate(r, event(created_by="alice", completed_by="bob", title="Ship", cost=12))
    assert out is not None
    assert out.field_users == ("alice",)
    assert (out.title, out.body) == ("bob completed Ship", "Cost: $12")
    assert evaluate(r, event(created_by="alice", completed_by="bob", title="x", cost=3)) is None


@pytest.mark.parametrize(
    ("conditions", "holds"),
    [
        ([{"field": "data.kind", "op": "eq", "value": "bug"}], True),
        ([{"field": "data.kind", "op": "ne", "value": "bug"}], False),
        ([{"field": "data.kind", "op": "in", "value": ["bug", "task"]}], True),
        ([{"field": "data.nope", "op": "missing"}], True),
        ([{"field": "data.kind", "op": "exists"}], True),
        ([{"field": "data.tags", "op": "contains", "value": "p1"}], True),
        ([{"field": "data.title", "op": "starts_with", "value": "Fix"}], True),
        ([{"any": [{"field": "data.cost", "op": "lt", "value": 1}, KIND_TASK]}], False),
        ([{"any": [{"field": "data.cost", "op": "lt", "value": 1}, SECOND_TAG]}], True),
        ([{"all": [KIND_TASK, SECOND_TAG]}], False),
    ],
)
def test_conditions(conditions: list[Any], holds: bool) -> None:
    r = compiled(conditions=conditions)
    ev = event(
        created_by="a", completed_by="b", title="Fix it", cost=5, kind="bug", tags=["p1", "p2"]
    )
    assert (evaluate(r, ev) is not None) is holds


def test_evaluation_errors_are_rule_errors() -> None:
    r = compiled()
    with pytest.raises(RuleError, match=r"data\.created_by"):
        evaluate(r, event(completed_by="b", title="t", cost=1))
    with pytest.raises(RuleError, match=r"template field data\.cost"):
        evaluate(r, event(created_by="a", completed_by="b", title="t"))
    with pytest.raises(RuleError, match="not a user id"):
        evaluate(r, event(created_by=["a", 3], completed_by="b", title="t", cost=1))
    num = compiled(conditions=[{"field": "data.cost", "op": "gt", "value": 1}])
    with pytest.raises(RuleError, match="needs a number"):
        evaluate(num, event(created_by="a", completed_by="b", title="t", cost="12"))


def test_templates_never_run_code() -> None:
    r = compiled(title="${data.title}", body="{data.__class__} ${data.x}")
    out = evaluate(r, event(created_by="a", title="{0.__class__}", x={"k": [1]}))
    assert out is not None
    assert out.title == "{0.__class__}"
    assert out.body == '{data.__class__} {"k":[1]}'


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"topic": "events.other.tasks.>"}, "outside your org"),
        ({"topic": "events.acme.>.x"}, "last segment"),
        ({"recipients": {}}, "recipients"),
        ({"recipients": {"field": "data..x"}}, "field path"),
        ({"recipients": {"users": [""]}}, "recipient"),
        ({"title": "${data.x"}, "bad placeholder"),
        ({"title": ""}, "title"),
        ({"priority": "extreme"}, "priority"),
        ({"type": "Bad Type"}, "type"),
        ({"conditions": [{"field": "data.x", "op": "regex", "value": "."}]}, "op must be"),
        ({"conditions": [{"field": "data.x", "op": "gt", "value": "1"}]}, "number"),
        ({"conditions": [{"field": "data.x", "op": "exists", "value": 1}]}, "takes no value"),
        ({"conditions": [{"any": []}]}, "non-empty list"),
        ({"conditions": [{"field": "data.x", "value": i} for i in range(21)]}, "at most 20"),
        (
            {"conditions": [{"any": [{"any": [{"any": [{"field": "data.x", "value": 1}]}]}]}]},
            "nest",
        ),
        ({"link": {"web": "x"}}, "link"),
        ({"extra": 1}, "unknown field"),
    ],
)
def test_bad_rules_are_refused(over: dict[str, Any], message: str) -> None:
    with pytest.raises(ClientError, match=message):
        check_spec(ORG, rule(**over))
