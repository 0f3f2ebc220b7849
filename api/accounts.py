"""``/v1/users/{id}/export`` and ``DELETE /v1/users/{id}``: a user's archive and account
deletion, by the user themselves or a service token of the org (docs/privacy.md)."""

from __future__ import annotations

from quart import Response, jsonify
from quart_schema import tag_blueprint, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import ErrorOut, Out


class DeletedOut(Out):
    user_id: str
    #: What was erased: messages, reactions, channels (left), bookmarks, profile, files...
    erased: dict[str, int]


bp = authenticated_blueprint("accounts", __name__)
tag_blueprint(bp, ["privacy"])


@bp.get("/users/<user_id>/export")
@validate_response(ErrorOut, 403)
async def export(user_id: str) -> Response:
    """The JSON archive of the user's data; take it before deleting the account."""
    archive = await services().accounts.export(claims(), user_id)
    response = jsonify(archive)
    response.headers["Content-Disposition"] = 'attachment; filename="parley-export.json"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.delete("/users/<user_id>")
@validate_response(DeletedOut)
@validate_response(ErrorOut, 403)
async def delete_account(user_id: str) -> DeletedOut:
    """Delete the account: its tokens are refused from now on, its messages tombstoned,
    its reactions, memberships, profile, bookmarks and uploads erased."""
    erased = await services().accounts.delete(claims(), user_id)
    return DeletedOut(user_id=user_id, erased=erased)
