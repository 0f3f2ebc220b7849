"""The REST layer: :func:`api.app.create_app` and :func:`api.server.serve_http`."""
