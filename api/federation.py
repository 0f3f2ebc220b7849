"""``/v1/channels/{id}/federation``: link a channel to a Matrix room or an XMPP MUC, see
its links and remote members, unlink (docs/federation.md)."""

from __future__ import annotations

from typing import Literal

from quart import Response
from quart_schema import tag_blueprint, validate_querystring, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import Body, ErrorOut, Out, Query, Timestamp
from parley.core.records import FederationLink, RemoteMember
from parley.core.times import rfc3339


class LinkIn(Body):
    network: Literal["matrix", "xmpp"]
    #: A Matrix room id (``!id:server``) or alias (``#alias:server``), or a MUC's bare JID.
    remote: str


class LinkOut(Out):
    id: str
    channel: str
    network: str
    remote: str
    #: The Matrix room id the alias resolved to (the JID for XMPP); null until joined.
    room_id: str | None = None
    created_by: str
    created_at: Timestamp
    #: The last channel-log seq relayed; events after it are still in the outbox.
    relayed_seq: int
    dropped: int = 0

    @classmethod
    def of(cls, lk: FederationLink) -> LinkOut:
        return cls(
            id=lk.id,
            channel=lk.channel_id,
            network=lk.network.value,
            remote=lk.remote,
            room_id=lk.room_id,
            created_by=lk.created_by,
            created_at=rfc3339(lk.created_at),
            relayed_seq=lk.relayed_seq,
            dropped=lk.dropped,
        )


class RemoteMemberOut(Out):
    user_id: str
    network: str
    remote_user: str
    display_name: str
    origin: str
    last_seen: Timestamp

    @classmethod
    def of(cls, m: RemoteMember) -> RemoteMemberOut:
        return cls(
            user_id=m.user_id,
            network=m.network.value,
            remote_user=m.remote_user,
            display_name=m.display_name,
            origin=m.origin,
            last_seen=rfc3339(m.last_seen),
        )


class FederationOut(Out):
    links: list[LinkOut]
    remote_members: list[RemoteMemberOut]


class UnlinkQuery(Query):
    #: Unlink this network only (default: every link of the channel).
    network: Literal["matrix", "xmpp"] | None = None


bp = authenticated_blueprint("federation", __name__)
tag_blueprint(bp, ["federation"])


@bp.post("/channels/<channel_id>/federation")
@validate_request(LinkIn)
@validate_response(LinkOut, 201)
@validate_response(ErrorOut, 400)
@validate_response(ErrorOut, 403)
@validate_response(ErrorOut, 404)
@validate_response(ErrorOut, 409)
async def link_channel(channel_id: str, data: LinkIn) -> tuple[LinkOut, int]:
    """Org admins (token role ``admin``) and service tokens link a channel of their org.
    409 if the channel has a link on that network, the remote room is linked already, or
    no bridge for the network is configured."""
    link = await services().federation.link(claims(), channel_id, data.network, data.remote)
    return LinkOut.of(link), 201


@bp.get("/channels/<channel_id>/federation")
@validate_response(FederationOut)
@validate_response(ErrorOut, 404)
async def get_federation(channel_id: str) -> FederationOut:
    """The channel's links and remote members (members, org admins, service tokens)."""
    view = await services().federation.links(claims(), channel_id)
    return FederationOut(
        links=[LinkOut.of(lk) for lk in view.links],
        remote_members=[RemoteMemberOut.of(m) for m in view.remote_members],
    )


@bp.delete("/channels/<channel_id>/federation")
@validate_querystring(UnlinkQuery)
@validate_response(ErrorOut, 403)
@validate_response(ErrorOut, 404)
async def unlink_channel(channel_id: str, query_args: UnlinkQuery) -> Response:
    """Unlink (org admins, service tokens); nothing more is relayed either way. 204."""
    await services().federation.unlink(claims(), channel_id, query_args.network)
    return Response("", status=204)
