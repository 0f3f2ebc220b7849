"""The OpenAPI document and the ``/docs`` page.

quart-schema builds the document from the route decorators; :class:`ParleyOpenAPI`
completes it in one place: summaries and descriptions from whole docstring paragraphs
(Markdown, not reStructuredText), the error responses each operation can give with the
JSON error schema, request bodies quart-schema cannot see (uploads), non-empty response
descriptions, and no security on the health route. ``/docs`` is Swagger UI served from the
``swagger-ui-bundle`` package, so it renders with no network (docs/configuration.md).
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import trio
from quart import Quart, Response, abort
from quart_schema import OpenAPIProvider, hide
from swagger_ui_bundle import swagger_ui_path
from werkzeug.routing import Rule

from parley.api.schemas import ErrorOut

#: What each error status means on this API (docs/rest.md, Errors).
ERROR_DESCRIPTIONS = {
    400: "Bad request: invalid JSON, parameters or fields (`bad_json`, `bad_request`).",
    401: "Missing, malformed or expired bearer token (`unauthorized`).",
    403: "Authenticated but not allowed (`forbidden`).",
    404: "No such resource, or not visible to the caller (`not_found`).",
    409: "Conflicts with the current state (`conflict`).",
    413: "Request body or field too large (`payload_too_large`).",
    429: "Too many requests (`rate_limited`, retry after `Retry-After`), or an upload over "
    "the quota (`quota_exceeded`).",
    503: "Temporarily unavailable; retry later (`unavailable`).",
}

#: Errors beyond the ones every operation of its kind gets (see :meth:`ParleyOpenAPI.errors`),
#: by endpoint: where the domain refuses with 403, 409, 429 or 503. Checked against the raise
#: sites: 403 is ``access.forbidden`` / ``ErrorCode.FORBIDDEN`` (broadcast posting through
#: ``access.post_policy``, ``rules.check_add_member`` / ``check_remove_member``, authorship
#: in edits, task completion, team membership, service-only events, stream writes); 409 is
#: a store ``Conflict`` (only ``channels.create_channel`` for a direct pair,
#: ``messages.post`` for an already-posted file, ``teams.create_team`` for a taken name) or
#: ``ErrorCode.CONFLICT`` in the domain (``members.add_member`` racing a removal, a stream's
#: state or chunk index); 429 only when opening a stream, 503 when opening one (too many)
#: or driving one whose node does not answer (a cluster), and 503 for presence without a
#: broker. ``access.store_errors`` maps a Conflict where one cannot occur, which
#: is no reason to declare it. tests/api/test_openapi.py pins this table.
EXTRA_ERRORS: dict[str, tuple[int, ...]] = {
    "channels.create_channel": (409,),
    "members.add_member": (403, 409),
    "members.remove_member": (403,),
    "messages.post_message": (403,),
    "events.publish": (403,),
    "events.publish_batch": (403,),
    "streams.open_stream": (403, 429, 503),
    "streams.get_stream": (503,),
    "streams.append_chunk": (403, 409, 503),
    "streams.complete_stream": (403, 409, 503),
    "streams.cancel_stream": (403, 409, 503),
    "threads.reply": (403,),
    "edits.edit_message": (403,),
    "edits.delete_message": (403,),
    "edits.list_versions": (403,),
    "edits.share_message": (403,),
    "teams.create_team": (409,),
    "teams.add_team_member": (403,),
    "teams.remove_team_member": (403,),
    "tasks.complete_task": (403,),
    "files.post_files": (403, 409),
    "presence.presence": (503,),
    "notifications.send": (403,),
    "notifications.send_batch": (403,),
    "notifications.get_scheduled_notification": (403,),
    "notifications.cancel_scheduled_notification": (403, 409),
    "notification_rules.create_rule": (403,),
    "notification_rules.list_rules": (403,),
    "notification_rules.get_rule": (403,),
    "notification_rules.replace_rule": (403,),
    "notification_rules.delete_rule": (403,),
}

#: Request bodies quart-schema cannot see: the upload takes multipart ``file`` parts or
#: the raw bytes.
UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": "One part per file.",
                    }
                },
                "required": ["file"],
            }
        },
        "application/octet-stream": {
            "schema": {"type": "string", "format": "binary"},
        },
    },
}
BINARY_RESPONSE = {
    "description": "The file's bytes, with the sniffed content type.",
    "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
}
EXTRA_BODIES = {"files.upload": UPLOAD_BODY}
METRICS_RESPONSE = {
    "description": "The metrics in Prometheus' text exposition format.",
    "content": {"text/plain": {"schema": {"type": "string"}}},
}
EXTRA_SUCCESS = {
    "files.download": {"200": BINARY_RESPONSE},
    "health.metrics": {"200": METRICS_RESPONSE},
}

_RST_LITERAL = re.compile(r"``(.+?)``")
_RST_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def markdown(text: str) -> str:
    """reStructuredText literals and roles as Markdown code."""
    text = _RST_ROLE.sub(r"`\1`", text)
    return _RST_LITERAL.sub(r"`\1`", text)


def plain(text: str) -> str:
    """One line with no markup (an OpenAPI summary is plain text)."""
    return " ".join(markdown(text).replace("`", "").split())


def docstring_parts(func: Callable[..., Any], endpoint: str) -> tuple[str, str]:
    """(summary, description): the first paragraph whole, and the rest."""
    doc = inspect.getdoc(func)
    if not doc:
        name = endpoint.rsplit(".", 1)[-1].replace("_", " ")
        return name[:1].upper() + name[1:] + ".", ""
    first, _, rest = doc.partition("\n\n")
    paragraphs = [" ".join(p.split()) for p in rest.split("\n\n") if p.strip()]
    return plain(first), markdown("\n\n".join(paragraphs))


class ParleyOpenAPI(OpenAPIProvider):
    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        error_response, error_components = self.build_response_object(ErrorOut, None)
        components.update(error_components)
        func = self._app.view_functions[rule.endpoint]
        summary, description = docstring_parts(func, rule.endpoint)
        for path, operations in paths.items():
            for method, op in operations.items():
                operations[method] = op = copy.deepcopy(op)
                op["summary"] = summary
                op["description"] = description
                self.complete(op, rule.endpoint, method, path, error_response)
        return paths, components

    def complete(
        self, op: dict[str, Any], endpoint: str, method: str, path: str, error: dict[str, Any]
    ) -> None:
        if endpoint in EXTRA_BODIES:
            op["requestBody"] = EXTRA_BODIES[endpoint]
        responses: dict[str, Any] = {str(k): v for k, v in op["responses"].items()}
        responses.update(copy.deepcopy(EXTRA_SUCCESS.get(endpoint, {})))
        if not any(str(code).startswith("2") for code in responses):
            responses["204"] = {"description": HTTPStatus.NO_CONTENT.phrase}
        for status in self.errors(op, endpoint, method, path):
            entry = copy.deepcopy(error)
            entry["description"] = ERROR_DESCRIPTIONS[status]
            responses.setdefault(str(status), entry)
        for code, response in responses.items():
            if not response.get("description"):
                response["description"] = HTTPStatus(int(code)).phrase
            elif int(code) in ERROR_DESCRIPTIONS and response.get("description") == (
                inspect.getdoc(ErrorOut)
            ):
                response["description"] = ERROR_DESCRIPTIONS[int(code)]
        op["responses"] = dict(sorted(responses.items()))  # "200" < "401" < ...
        if not path.startswith("/v1/"):
            op["security"] = []  # health: no token

    def errors(self, op: dict[str, Any], endpoint: str, method: str, path: str) -> list[int]:
        """401 and 429 (rate limits) on every ``/v1`` route; 400 where there is a body or a
        query; 413 where there is a body; 404 where the path names a resource; then
        :data:`EXTRA_ERRORS`."""
        statuses: set[int] = set(EXTRA_ERRORS.get(endpoint, ()))
        has_body = "requestBody" in op
        has_query = any(p.get("in") == "query" for p in op.get("parameters", []))
        if path.startswith("/v1/"):
            statuses.update((401, 429))
        if has_body or has_query:
            statuses.add(400)
        if has_body:
            statuses.add(413)
        if "{" in path:
            statuses.add(404)
        return sorted(statuses)


# --- /docs -----------------------------------------------------------------------------

DOCS_ASSETS = "/docs/assets"
#: The files /docs loads, and their types.
_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
_asset_cache: dict[str, bytes] = {}

DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{assets}/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
    }});
  </script>
</body>
</html>
"""


def install_docs(app: Quart, title: str) -> None:
    """``/docs``: Swagger UI from the package's own copy, no CDN."""
    page = DOCS_PAGE.format(title=title, assets=DOCS_ASSETS)

    @hide
    async def docs() -> tuple[str, int, dict[str, str]]:
        return page, 200, {"Content-Type": "text/html; charset=utf-8"}

    @hide
    async def docs_asset(name: str) -> Response:
        if name not in _ASSETS:
            abort(404)
        if name not in _asset_cache:  # read once per process (quart's send_file is asyncio's)
            _asset_cache[name] = await trio.Path(swagger_ui_path, name).read_bytes()
        response = Response(_asset_cache[name], mimetype=_ASSETS[name])
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response

    app.add_url_rule("/docs", "docs", docs)
    app.add_url_rule(f"{DOCS_ASSETS}/<name>", "docs_asset", docs_asset)
