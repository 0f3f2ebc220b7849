"""GraphiQL at ``GET /graphql`` for a browser (``Accept: text/html``, no ``query``): a
page that loads the package's own copy of GraphiQL 3.9.0 with React 18.3.1
(``static/``, copied unchanged from the npm packages ``graphiql``, ``react`` and
``react-dom``, MIT, see ``static/LICENSES.txt``), no CDN. Queries go to ``POST /graphql``
with the headers of GraphiQL's headers pane, where the token goes:
``{"Authorization": "Bearer <token>"}`` (GraphiQL keeps it in the browser's storage)."""

from __future__ import annotations

from importlib import resources

import trio
from quart import Blueprint, Response, abort
from quart_schema import hide

ASSETS_PATH = "/graphql/assets"
#: name -> content type: the only files served.
ASSETS = {
    "graphiql.min.js": "text/javascript",
    "graphiql.min.css": "text/css",
    "react.production.min.js": "text/javascript",
    "react-dom.production.min.js": "text/javascript",
}

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Parley GraphQL</title>
<link rel="stylesheet" href="{assets}/graphiql.min.css">
<style>html, body, #graphiql {{ height: 100%; margin: 0; }}</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="{assets}/react.production.min.js"></script>
<script src="{assets}/react-dom.production.min.js"></script>
<script src="{assets}/graphiql.min.js"></script>
<script>
async function fetcher(params, options) {{
  const headers = Object.assign({{"Content-Type": "application/json"}}, (options || {{}}).headers);
  const response = await fetch(window.location.pathname, {{
    method: "POST", headers: headers, body: JSON.stringify(params),
  }});
  return response.json();
}}
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, {{
    fetcher: fetcher,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true,
    defaultHeaders: '{{"Authorization": "Bearer <token>"}}',
  }}),
);
</script>
</body>
</html>
"""

_cache: dict[str, bytes] = {}

bp = Blueprint("graphiql", __name__)


def page() -> Response:
    return Response(PAGE.format(assets=ASSETS_PATH), mimetype="text/html")


@bp.get(f"{ASSETS_PATH}/<name>")
@hide
async def asset(name: str) -> Response:
    if name not in ASSETS:
        abort(404)
    if name not in _cache:  # read once per process
        path = resources.files("parley.api.graphql").joinpath("static", name)
        _cache[name] = await trio.Path(str(path)).read_bytes()
    response = Response(_cache[name], mimetype=ASSETS[name])
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
