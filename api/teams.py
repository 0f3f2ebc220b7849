"""``/v1/teams`` (org-level groups for ``@team`` mentions) and my mentions in a channel."""

from __future__ import annotations

from pydantic import Field
from quart_schema import tag_blueprint, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import Body, ErrorOut, Out, Timestamp
from parley.core.records import Team
from parley.core.times import rfc3339


# -- mentions and teams ----------------------------------------------------------------------
class MentionOut(Out):
    seq: int
    message_id: str


class MentionsOut(Out):
    channel: str
    #: Mentions after my read position in the channel.
    unread: int
    #: The latest 50, newest first.
    items: list[MentionOut]


class TeamIn(Body):
    name: str
    members: list[str] = Field(default_factory=list)


class TeamMemberIn(Body):
    user_id: str


class TeamOut(Out):
    id: str
    name: str
    created_by: str
    created_at: Timestamp
    members: list[str]

    @classmethod
    def of(cls, t: Team) -> TeamOut:
        return cls(
            id=t.id,
            name=t.name,
            created_by=t.created_by,
            created_at=rfc3339(t.created_at),
            members=t.members,
        )


class TeamListOut(Out):
    items: list[TeamOut]


bp = authenticated_blueprint("teams", __name__)
tag_blueprint(bp, ["teams"])


@bp.post("/teams")
@validate_request(TeamIn)
@validate_response(TeamOut, 201)
@validate_response(ErrorOut, 409)
async def create_team(data: TeamIn) -> tuple[TeamOut, int]:
    """Team names are unique in the org and usable as ``@name``."""
    c = claims()
    return TeamOut.of(
        await services().teams.create_team(c.org, c.sub, data.name, data.members)
    ), 201


@bp.get("/teams")
@validate_response(TeamListOut)
async def list_teams() -> TeamListOut:
    """The teams of my org."""
    c = claims()
    return TeamListOut(items=[TeamOut.of(t) for t in await services().teams.teams(c.org)])


@bp.get("/teams/<team_id>")
@validate_response(TeamOut)
@validate_response(ErrorOut, 404)
async def get_team(team_id: str) -> TeamOut:
    """One team of my org, with its members."""
    c = claims()
    return TeamOut.of(await services().teams.team(c.org, team_id))


@bp.post("/teams/<team_id>/members")
@validate_request(TeamMemberIn)
@validate_response(TeamOut)
@validate_response(ErrorOut, 403)
async def add_team_member(team_id: str, data: TeamMemberIn) -> TeamOut:
    """Team members, its creator and service tokens add members."""
    c = claims()
    return TeamOut.of(
        await services().teams.set_team_member(
            c.org, c.sub, team_id, data.user_id, on=True, service=c.is_service
        )
    )


@bp.delete("/teams/<team_id>/members/<user_id>")
@validate_response(TeamOut)
@validate_response(ErrorOut, 403)
async def remove_team_member(team_id: str, user_id: str) -> TeamOut:
    """Remove a member (the team's members, its creator and service tokens)."""
    c = claims()
    return TeamOut.of(
        await services().teams.set_team_member(
            c.org, c.sub, team_id, user_id, on=False, service=c.is_service
        )
    )


@bp.get("/channels/<channel_id>/mentions")
@validate_response(MentionsOut)
@validate_response(ErrorOut, 404)
async def my_mentions(channel_id: str) -> MentionsOut:
    """My mention unread count in the channel (after my read position) and the latest."""
    c = claims()
    unread, items = await services().mentions.mentions(c.org, c.sub, channel_id)
    return MentionsOut(
        channel=channel_id,
        unread=unread,
        items=[MentionOut(seq=m.seq, message_id=m.message_id) for m in items],
    )
