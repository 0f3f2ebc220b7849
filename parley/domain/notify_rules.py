"""Notification rules (sans-IO): validating a rule, matching an event, evaluating its
conditions, taking recipients from its fields and filling its templates. No ``eval``:
conditions are data (a field path, an operator, a value) and templates only substitute
field values (docs/notifications.md, Rules).

An event as rules see it::

    {"topic": "events.acme.tasks.task.completed.tsk_1", "org": "acme",
     "data": {...the published data...}, "channel": "ch_..." or null}

Field paths are dotted names into it (``data.created_by``, ``data.items.0.id``).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from parley.core.errors import ClientError
from parley.core.notifications import MAX_BODY_CHARS, MAX_TITLE_CHARS, PRIORITIES
from parley.core.topics import check_org, matches, parse_pattern
from parley.domain import rules
from parley.domain.notify_prefs import check_type

#: Operators of a condition, and the number of conditions / nesting a rule may hold.
OPS = (
    "eq",
    "ne",
    "in",
    "not_in",
    "exists",
    "missing",
    "contains",
    "starts_with",
    "ends_with",
    "gt",
    "gte",
    "lt",
    "lte",
)
MAX_CONDITIONS = 20
MAX_DEPTH = 3
MAX_FIXED_RECIPIENTS = 100
#: Most recipients one field may name (a list of user ids).
MAX_FIELD_RECIPIENTS = 100
MAX_NAME_CHARS = 100
MAX_TEMPLATE_CHARS = 2000
MAX_PATH_CHARS = 200

_PATH = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*"
_PATH_RE = re.compile(_PATH)
_LINK_KEYS = ("channel", "message", "thread", "url")


class RuleError(Exception):
    """A rule could not be evaluated on an event (a missing field, a value of the wrong
    kind): recorded on the rule, never raised out of the pipeline."""


class FieldTemplate(string.Template):
    """``${data.title}`` or ``$name``; ``$$`` is a dollar sign."""

    idpattern = _PATH
    braceidpattern = _PATH


@dataclass(frozen=True, slots=True)
class Rule:
    """A validated rule, ready to evaluate (compiled from its stored ``spec``)."""

    id: str
    org: str
    pattern: list[str]
    conditions: list[Any]
    users: tuple[str, ...]
    team: str | None
    field: str | None
    type: str
    priority: str
    title: FieldTemplate
    body: FieldTemplate
    link: dict[str, FieldTemplate]

    def matches(self, topic_parts: list[str]) -> bool:
        return matches(self.pattern, topic_parts)


def _path(value: object, what: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_PATH_CHARS or not _PATH_RE.fullmatch(value):
        raise rules.bad(f"{what} must be a dotted field path such as data.created_by")
    return value


def _template(value: object, what: str, *, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise rules.bad(f"{what} must be a non-empty template string")
    if len(value) > MAX_TEMPLATE_CHARS:
        raise rules.bad(f"{what} longer than {MAX_TEMPLATE_CHARS} characters")
    rules.check_clean(value, what)
    t = FieldTemplate(value)
    if not t.is_valid():
        raise rules.bad(f"{what}: bad placeholder (use ${{data.field}}, and $$ for a dollar)")
    return value


def _condition(c: object, depth: int, count: list[int]) -> dict[str, Any]:
    count[0] += 1
    if count[0] > MAX_CONDITIONS:
        raise rules.bad(f"at most {MAX_CONDITIONS} conditions per rule")
    if not isinstance(c, dict):
        raise rules.bad('a condition is {"field", "op", "value"} or {"any": [...]}')
    if "any" in c or "all" in c:
        if depth >= MAX_DEPTH:
            raise rules.bad(f"conditions nest at most {MAX_DEPTH} deep")
        (key,) = [k for k in ("any", "all") if k in c]
        if set(c) != {key} or not isinstance(c[key], list) or not c[key]:
            raise rules.bad(f'"{key}" takes a non-empty list of conditions, alone')
        return {key: [_condition(x, depth + 1, count) for x in c[key]]}
    unknown = set(c) - {"field", "op", "value"}
    if unknown:
        raise rules.bad(f"unknown condition field {sorted(unknown)[0]!r}")
    field = _path(c.get("field"), "a condition's field")
    op = c.get("op", "eq")
    if op not in OPS:
        raise rules.bad(f"a condition's op must be one of: {', '.join(OPS)}")
    value = c.get("value")
    if op in ("exists", "missing"):
        if "value" in c:
            raise rules.bad(f"op {op} takes no value")
        return {"field": field, "op": op}
    if "value" not in c:
        raise rules.bad(f"op {op} needs a value")
    if op in ("in", "not_in") and not isinstance(value, list):
        raise rules.bad(f"op {op} needs a list value")
    if op in ("gt", "gte", "lt", "lte") and (
        not isinstance(value, int | float) or isinstance(value, bool)
    ):
        raise rules.bad(f"op {op} needs a number value")
    if op in ("starts_with", "ends_with") and not isinstance(value, str):
        raise rules.bad(f"op {op} needs a string value")
    if len(orjson.dumps(value)) > 4096:
        raise rules.bad("a condition's value is too large")
    return {"field": field, "op": op, "value": value}


def check_spec(org: str, body: Mapping[str, Any]) -> tuple[str, dict[str, Any], bool]:
    """Validate a rule's definition: (name, spec, enabled). ``ClientError`` on bad input."""
    allowed = {"name", "topic", "conditions", "recipients", "type", "priority"}
    allowed |= {"title", "body", "link", "enabled"}
    unknown = set(body) - allowed
    if unknown:
        raise rules.bad(f"unknown field {sorted(unknown)[0]!r}")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
        raise rules.bad(f"name must be 1 to {MAX_NAME_CHARS} characters")
    rules.check_clean(name, "name")
    topic = body.get("topic")
    try:
        check_org(parse_pattern(topic), org)
    except ClientError as exc:
        raise rules.bad(f"topic: {exc.message}") from None
    assert isinstance(topic, str)
    conds = body.get("conditions", [])
    if not isinstance(conds, list):
        raise rules.bad("conditions must be a list (all must hold)")
    count = [0]
    conditions = [_condition(c, 1, count) for c in conds]
    rec = body.get("recipients")
    if not isinstance(rec, dict) or not rec:
        raise rules.bad('recipients must be {"users": [...], "team": "...", "field": "..."}')
    unknown = set(rec) - {"users", "team", "field"}
    if unknown:
        raise rules.bad(f"unknown recipients field {sorted(unknown)[0]!r}")
    users = rec.get("users", [])
    if not isinstance(users, list) or len(users) > MAX_FIXED_RECIPIENTS:
        raise rules.bad(f"recipients.users must be a list of at most {MAX_FIXED_RECIPIENTS}")
    users = [rules.check_user_id(u, "a recipient") for u in users]
    team = rec.get("team")
    if team is not None and (not isinstance(team, str) or not team or len(team) > 100):
        raise rules.bad("recipients.team must be a team name")
    field = None if rec.get("field") is None else _path(rec["field"], "recipients.field")
    if not users and team is None and field is None:
        raise rules.bad("recipients must name users, a team or a field")
    type_ = check_type(body.get("type", "rule"))
    priority = body.get("priority", "normal")
    if priority not in PRIORITIES:
        raise rules.bad(f"priority must be one of: {', '.join(PRIORITIES)}")
    link = body.get("link") or {}
    if not isinstance(link, dict) or set(link) - set(_LINK_KEYS):
        raise rules.bad("link must be an object with channel, message, thread or url")
    spec = {
        "topic": topic,
        "conditions": conditions,
        "recipients": {"users": users, "team": team, "field": field},
        "type": type_,
        "priority": priority,
        "title": _template(body.get("title"), "title", required=True),
        "body": _template(body.get("body"), "body", required=False),
        "link": {k: _template(v, f"link.{k}", required=True) for k, v in link.items()},
    }
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        raise rules.bad("enabled must be true or false")
    return name.strip(), spec, enabled


def compile_rule(rule_id: str, org: str, spec: Mapping[str, Any]) -> Rule:
    rec = spec["recipients"]
    return Rule(
        id=rule_id,
        org=org,
        pattern=spec["topic"].split("."),
        conditions=list(spec["conditions"]),
        users=tuple(rec.get("users") or ()),
        team=rec.get("team"),
        field=rec.get("field"),
        type=spec["type"],
        priority=spec["priority"],
        title=FieldTemplate(spec["title"]),
        body=FieldTemplate(spec["body"]),
        link={k: FieldTemplate(v) for k, v in spec["link"].items()},
    )


# -- evaluation ---------------------------------------------------------------------------

_MISSING = object()


def lookup(event: Mapping[str, Any], path: str) -> Any:
    """The value at ``path``, or ``_MISSING``."""
    cur: Any = event
    for part in path.split("."):
        if isinstance(cur, Mapping):
            cur = cur.get(part, _MISSING)
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return _MISSING
        if cur is _MISSING:
            return _MISSING
    return cur


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _holds(cond: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    if "any" in cond:
        return any(_holds(c, event) for c in cond["any"])
    if "all" in cond:
        return all(_holds(c, event) for c in cond["all"])
    v = lookup(event, cond["field"])
    op = cond["op"]
    if op == "exists":
        return v is not _MISSING
    if op == "missing":
        return v is _MISSING
    if v is _MISSING:
        return op in ("ne", "not_in")  # a missing field is unequal to everything
    want = cond["value"]
    if op == "eq":
        return bool(v == want)
    if op == "ne":
        return bool(v != want)
    if op == "in":
        return v in want
    if op == "not_in":
        return v not in want
    if op == "contains":
        if isinstance(v, str) and isinstance(want, str):
            return want in v
        if isinstance(v, list):
            return want in v
        raise RuleError(f"{cond['field']}: contains needs a string or a list")
    if op in ("starts_with", "ends_with"):
        if not isinstance(v, str):
            raise RuleError(f"{cond['field']}: {op} needs a string, got {type(v).__name__}")
        return v.startswith(want) if op == "starts_with" else v.endswith(want)
    if not _number(v):
        raise RuleError(f"{cond['field']}: {op} needs a number, got {type(v).__name__}")
    return bool({"gt": v > want, "gte": v >= want, "lt": v < want, "lte": v <= want}[op])


def conditions_hold(rule: Rule, event: Mapping[str, Any]) -> bool:
    """Whether every condition holds (``RuleError`` if one cannot be evaluated)."""
    return all(_holds(c, event) for c in rule.conditions)


class _Fields(Mapping[str, str]):
    def __init__(self, event: Mapping[str, Any]) -> None:
        self.event = event

    def __getitem__(self, key: str) -> str:
        v = lookup(self.event, key)
        if v is _MISSING:
            raise RuleError(f"template field {key} is missing from the event")
        if v is None:
            return ""
        if isinstance(v, str):
            return v
        return orjson.dumps(v).decode()

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


def render(template: FieldTemplate, event: Mapping[str, Any], cap: int) -> str:
    try:
        text = template.substitute(_Fields(event))
    except KeyError as exc:  # pragma: no cover - _Fields raises RuleError instead
        raise RuleError(f"template field {exc} is missing") from None
    except ValueError as exc:
        raise RuleError(f"template: {exc}") from None
    return cut(text, cap)


def cut(text: str, cap: int) -> str:
    text = text.replace("\x00", "")
    return text if len(text) <= cap else text[: cap - 1] + "…"


@dataclass(frozen=True, slots=True)
class Rendered:
    title: str
    body: str
    link: dict[str, str]
    #: User ids from the recipients' field.
    field_users: tuple[str, ...]


def evaluate(rule: Rule, event: Mapping[str, Any]) -> Rendered | None:
    """None if the conditions do not hold; else what to send. ``RuleError`` if the
    rule cannot be evaluated on this event."""
    if not conditions_hold(rule, event):
        return None
    field_users: tuple[str, ...] = ()
    if rule.field is not None:
        v = lookup(event, rule.field)
        if v is _MISSING or v is None:
            raise RuleError(f"recipients field {rule.field} is missing from the event")
        values = v if isinstance(v, list) else [v]
        if len(values) > MAX_FIELD_RECIPIENTS or not all(
            isinstance(u, str) and rules.is_clean(u) and 0 < len(u) <= rules.MAX_USER_ID_CHARS
            for u in values
        ):
            raise RuleError(f"recipients field {rule.field} is not a user id (or a list of them)")
        field_users = tuple(values)
    return Rendered(
        title=render(rule.title, event, MAX_TITLE_CHARS),
        body=render(rule.body, event, MAX_BODY_CHARS),
        link={k: render(t, event, 2048) for k, t in rule.link.items()},
        field_users=field_users,
    )
