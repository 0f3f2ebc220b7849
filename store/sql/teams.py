"""Teams: named groups of users that can be mentioned."""

from __future__ import annotations

from collections.abc import Sequence

from parley.core.records import (
    Team,
)
from parley.store import codec
from parley.store.db import Db
from parley.store.errors import Conflict, NotFound
from parley.store.ids import new_id
from parley.store.writetx import WriteTx


def _team_members(db: Db, org: str, team_id: str) -> list[str]:
    rows = db.all(
        "SELECT user_id FROM team_members WHERE org = ? AND team_id = ? ORDER BY user_id",
        (org, team_id),
    )
    return [r[0] for r in rows]


def create_team(
    tx: WriteTx, org: str, *, name: str, created_by: str, members: Sequence[str]
) -> Team:
    codec.check_text(name, *members)
    now = codec.now_us()
    team_id = new_id("team")
    inserted = tx.db.run(
        "INSERT INTO teams (org, id, name, created_by, created_at_us) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (org, team_id, name, created_by, now),
    )
    if inserted == 0:
        raise Conflict(f"a team named {name!r} exists already")
    users = list(dict.fromkeys(members))
    for user in users:
        tx.db.send(
            "INSERT INTO team_members (org, team_id, user_id, added_at_us) VALUES (?, ?, ?, ?)",
            (org, team_id, user, now),
        )
    return Team(team_id, org, name, created_by, codec.from_us(now), sorted(users))


def set_team_member(tx: WriteTx, org: str, team_id: str, user_id: str, *, on: bool) -> bool:
    codec.check_text(user_id)
    if tx.db.one("SELECT 1 FROM teams WHERE org = ? AND id = ?", (org, team_id)) is None:
        raise NotFound("no such team")
    if on:
        n = tx.db.run(
            "INSERT INTO team_members (org, team_id, user_id, added_at_us) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (org, team_id, user_id, codec.now_us()),
        )
    else:
        n = tx.db.run(
            "DELETE FROM team_members WHERE org = ? AND team_id = ? AND user_id = ?",
            (org, team_id, user_id),
        )
    return n > 0


def get_team(db: Db, org: str, team_id: str) -> Team | None:
    row = db.one(
        "SELECT id, org, name, created_by, created_at_us FROM teams WHERE org = ? AND id = ?",
        (org, team_id),
    )
    if row is None:
        return None
    return Team(
        row[0], row[1], row[2], row[3], codec.from_us(row[4]), _team_members(db, org, row[0])
    )


def list_teams(db: Db, org: str) -> list[Team]:
    rows = db.all(
        "SELECT id, org, name, created_by, created_at_us FROM teams WHERE org = ? ORDER BY name",
        (org,),
    )
    return [
        Team(r[0], r[1], r[2], r[3], codec.from_us(r[4]), _team_members(db, org, r[0]))
        for r in rows
    ]


def team_members_by_name(db: Db, org: str, names: Sequence[str]) -> dict[str, list[str]]:
    if not names:
        return {}
    rows = db.all(
        "SELECT t.name, tm.user_id FROM teams t LEFT JOIN team_members tm"
        " ON tm.org = t.org AND tm.team_id = t.id"
        f" WHERE t.org = ? AND t.name IN ({codec.placeholders(len(names))})",
        (org, *names),
    )
    out: dict[str, list[str]] = {}
    for name, user in rows:
        users = out.setdefault(name, [])
        if user is not None:
            users.append(user)
    return out
