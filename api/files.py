"""Files: ``POST /v1/channels/{id}/files`` (upload), ``POST /v1/channels/{id}/file-messages``
(post a message carrying files), ``GET /v1/files/{id}`` and ``/v1/files/{id}/content``;
link previews: ``GET /v1/channels/{id}/messages/{mid}/previews``. See docs/files.md.

An upload is either ``multipart/form-data`` (one or more ``file`` parts) or the raw bytes
as the body (name in ``?name=``). Upload routes get their own body limit
(``FilesConfig.max_upload_bytes``) instead of the API-wide one.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import quote

from pydantic import Field
from quart import Blueprint, Quart, Response, request
from quart_schema import tag_blueprint, validate_querystring, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import Body, ErrorOut, FileOut, Out, Query
from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.limits import MAX_FILES_PER_MESSAGE
from parley.core.records import Attachment
from parley.core.times import rfc3339
from parley.domain.files import FileService
from parley.domain.posting import post_reply

#: Multipart framing on top of the file bytes that the body limit allows for.
MULTIPART_SLACK = 64 * 1024
UPLOAD_PATH = re.compile(r"/v1/channels/[^/]+/files")
CHUNK = 64 * 1024
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

bp = authenticated_blueprint("files", __name__)
tag_blueprint(bp, ["files"])


class FilesOut(Out):
    files: list[FileOut]


class UploadQuery(Query):
    name: str | None = None


class FileMessageIn(Body):
    text: str = ""
    files: list[str] = Field(min_length=1, max_length=MAX_FILES_PER_MESSAGE)


class FileMessageOut(Out):
    message_id: str
    seq: int
    ts: str
    channel: str
    created: bool
    files: list[FileOut]


def service() -> FileService:
    return services().files


def install_upload_limit(app: Quart, max_upload_bytes: int) -> None:
    """Let upload routes take bodies up to ``max_upload_bytes`` (plus multipart framing).
    Call after :func:`api.errors.install_error_handlers` (it sets the request class)."""
    base: Any = app.request_class
    limit = max_upload_bytes + MULTIPART_SLACK

    class UploadAwareRequest(base):  # type: ignore[misc]
        def __init__(self, method: str, scheme: str, path: str, *args: Any, **kw: Any) -> None:
            if method == "POST" and UPLOAD_PATH.fullmatch(path):
                kw["max_content_length"] = limit
            super().__init__(method, scheme, path, *args, **kw)

    app.request_class = UploadAwareRequest


async def _file_chunks(stream: IO[bytes]) -> AsyncIterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


@bp.post("/channels/<channel_id>/files")
@validate_querystring(UploadQuery)
@validate_response(FilesOut, 201)
@validate_response(ErrorOut, 413)
async def upload(channel_id: str, query_args: UploadQuery) -> tuple[FilesOut, int]:
    """Upload files for a later post in the channel (members only): multipart ``file``
    parts, or the raw bytes as the body with ``?name=``."""
    c = claims()
    files: list[tuple[str | None, AsyncIterable[bytes]]]
    if request.mimetype == "multipart/form-data":
        parts = (await request.files).getlist("file")
        if not parts or len(parts) > MAX_FILES_PER_MESSAGE:
            raise ClientError(
                ErrorCode.BAD_REQUEST,
                f"send 1 to {MAX_FILES_PER_MESSAGE} multipart parts named 'file'",
            )
        files = [(part.filename, _file_chunks(part.stream)) for part in parts]
    else:
        files = [(query_args.name, request.body)]
    out = await service().upload_many(c.org, c.sub, channel_id, files)
    return FilesOut(files=[FileOut.of(a) for a in out]), 201


@bp.post("/channels/<channel_id>/file-messages")
@validate_request(FileMessageIn)
@validate_response(FileMessageOut, 201)
@validate_response(ErrorOut, 404)
async def post_files(channel_id: str, data: FileMessageIn) -> tuple[FileMessageOut, int]:
    """Post a message carrying files I uploaded to this channel (``text`` may be empty)."""
    c = claims()
    result, files = await service().post(c.org, c.sub, channel_id, data.text, data.files)
    return FileMessageOut(**post_reply(result), files=[FileOut.of(f) for f in files]), 201


@bp.get("/files/<file_id>")
@validate_response(FileOut)
@validate_response(ErrorOut, 404)
async def get_file(file_id: str) -> FileOut:
    """A file's details (members of its channel only)."""
    c = claims()
    return FileOut.of(await service().get(c.org, c.sub, file_id))


@bp.get("/files/<file_id>/content")
async def download(file_id: str) -> Response:
    """The file's bytes (members of its channel only), with the sniffed content type."""
    c = claims()
    att, chunks = await service().open(c.org, c.sub, file_id)
    return _file_response(att, chunks, max_age=3600)


def _file_response(att: Attachment, chunks: AsyncIterator[bytes], *, max_age: int) -> Response:
    disposition = "inline" if att.content_type in INLINE_TYPES else "attachment"
    headers = {
        "Content-Length": str(att.size),
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(att.name, safe='')}",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": f"private, max-age={max_age}",
        "ETag": f'"{att.sha256}"',
    }
    return Response(chunks, content_type=att.content_type, headers=headers)


class LinkIn(Body):
    #: Seconds the link lives (default 300, at most 3600).
    ttl: int | None = None


class LinkOut(Out):
    #: A URL that downloads the file without an Authorization header (for ``<img src>``).
    url: str
    expires_at: str


@bp.post("/files/<file_id>/links")
@validate_request(LinkIn)
@validate_response(LinkOut, 201)
@validate_response(ErrorOut, 404)
async def make_link(file_id: str, data: LinkIn) -> tuple[LinkOut, int]:
    """A short-lived signed download link for a file I may read (browsers send no token
    with ``<img src>``). It stops working when it expires or I may no longer read the file.
    Keep it out of logs and referrers like a token."""
    c = claims()
    link, expires = await service().link(c.org, c.sub, file_id, data.ttl)
    url = f"/v1/files/{quote(file_id, safe='')}/download?link={link}"
    return LinkOut(url=url, expires_at=rfc3339(datetime.fromtimestamp(expires, UTC))), 201


#: Downloads through a signed link: no bearer token (the link is the credential).
links = Blueprint("file_links", __name__, url_prefix="/v1")
tag_blueprint(links, ["files"])


class LinkQuery(Query):
    link: str


@links.get("/files/<file_id>/download")
@validate_querystring(LinkQuery)
async def download_by_link(file_id: str, query_args: LinkQuery) -> Response:
    """The file's bytes through a signed link from ``POST /v1/files/{id}/links``: 404 if
    the link is not genuine or not for this file, 403 once it has expired."""
    att, chunks, left = await service().open_link(file_id, query_args.link)
    return _file_response(att, chunks, max_age=max(0, int(left)))


class PreviewOut(Out):
    url: str
    title: str | None = None
    description: str | None = None
    image: str | None = None


class PreviewsOut(Out):
    previews: list[PreviewOut]


@bp.get("/channels/<channel_id>/messages/<message_id>/previews")
@validate_response(PreviewsOut)
@validate_response(ErrorOut, 404)
async def get_previews(channel_id: str, message_id: str) -> PreviewsOut:
    """Link previews fetched for a message (members only; empty until fetched, and when
    previews are off or no URL host is allowed)."""
    c = claims()
    found = await services().previews.get(c.org, c.sub, channel_id, message_id)
    return PreviewsOut(previews=[PreviewOut(**p) for p in found])
