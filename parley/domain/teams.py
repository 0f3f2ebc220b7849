"""Teams: named groups of users of an org that a message can mention (``@team``)."""

from __future__ import annotations

from parley.core.records import Team
from parley.domain import access, content, rules
from parley.store import Store, sql


class TeamService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def create_team(self, org: str, user_id: str, name: str, members: list[str]) -> Team:
        name = content.check_team_name(name)
        if len(members) > content.MAX_TEAM_MEMBERS:
            raise rules.bad(f"at most {content.MAX_TEAM_MEMBERS} members")
        for m in members:
            rules.check_user_id(m, "member id")
        async with access.store_errors("team"):
            return await self.store.write(
                sql.teams.create_team, org, name=name, created_by=user_id, members=members
            )

    async def team(self, org: str, team_id: str) -> Team:
        t = None
        if rules.is_clean(team_id):
            t = await self.store.read(sql.teams.get_team, org, team_id)
        if t is None:
            raise access.not_found("team")
        return t

    async def teams(self, org: str) -> list[Team]:
        return await self.store.read(sql.teams.list_teams, org)

    async def set_team_member(
        self, org: str, user_id: str, team_id: str, target: str, *, on: bool, service: bool
    ) -> Team:
        """Team members, its creator and service tokens manage a team's members."""
        rules.check_user_id(target)
        t = await self.team(org, team_id)
        if not (service or user_id == t.created_by or user_id in t.members):
            raise access.forbidden("only the team's members or creator may change its members")
        if not on and target not in t.members:
            raise access.not_found("team member")
        async with access.store_errors("team"):
            await self.store.write(sql.teams.set_team_member, org, team_id, target, on=on)
        return await self.team(org, team_id)
