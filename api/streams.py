"""``/v1/channels/{id}/streams``: token-by-token bot messages."""

from __future__ import annotations

from quart_schema import tag_blueprint, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import ChunkIn, ChunkOut, ErrorOut, StreamOut

bp = authenticated_blueprint("streams", __name__)
tag_blueprint(bp, ["streams"])


@bp.post("/channels/<channel_id>/streams")
@validate_response(StreamOut, 201)
@validate_response(ErrorOut, 404)
async def open_stream(channel_id: str) -> tuple[StreamOut, int]:
    """Open a stream (members who may post, or a service of the org)."""
    return StreamOut.of(await services().streams.open_stream(claims(), channel_id)), 201


@bp.get("/channels/<channel_id>/streams/<stream_id>")
@validate_response(StreamOut)
@validate_response(ErrorOut, 404)
@validate_response(ErrorOut, 503)
async def get_stream(channel_id: str, stream_id: str) -> StreamOut:
    """The text so far and the last index: apply pushed chunks with a higher index."""
    return StreamOut.of(await services().streams.get_stream(claims(), channel_id, stream_id))


@bp.post("/channels/<channel_id>/streams/<stream_id>/chunks")
@validate_request(ChunkIn)
@validate_response(ChunkOut)
@validate_response(ErrorOut, 409)
async def append_chunk(channel_id: str, stream_id: str, data: ChunkIn) -> ChunkOut:
    """Append a chunk (the stream's author only)."""
    out = await services().streams.append_stream(
        claims(), channel_id, stream_id, data.chunk, data.index
    )
    return ChunkOut(**out)


@bp.post("/channels/<channel_id>/streams/<stream_id>/complete")
@validate_response(StreamOut)
@validate_response(ErrorOut, 409)
async def complete_stream(channel_id: str, stream_id: str) -> StreamOut:
    """Persist the text as one message (one seq). A retry answers the same."""
    return StreamOut.of(await services().streams.complete_stream(claims(), channel_id, stream_id))


@bp.post("/channels/<channel_id>/streams/<stream_id>/cancel")
@validate_response(StreamOut)
@validate_response(ErrorOut, 409)
async def cancel_stream(channel_id: str, stream_id: str) -> StreamOut:
    """Drop the stream without persisting anything."""
    return StreamOut.of(await services().streams.cancel_stream(claims(), channel_id, stream_id))
