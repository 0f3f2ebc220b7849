# Parley: one process serving the broker (8765) and the REST API (8080); docs/deploy.md.
# Build: docker build -t parley .   Run: docker run -p 8080:8080 -p 8765:8765 parley
FROM python:3.11-slim AS build
RUN python -m venv /opt/parley
COPY pyproject.toml README.md /src/
COPY parley /src/parley
COPY broker /src/broker
COPY api /src/api
COPY store /src/store
RUN /opt/parley/bin/pip install --no-cache-dir /src

FROM python:3.11-slim
COPY --from=build /opt/parley /opt/parley
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/parley --create-home parley
USER parley
WORKDIR /var/lib/parley
ENV PATH=/opt/parley/bin:$PATH \
    PARLEY_HOST=0.0.0.0 \
    PARLEY_DATA_DIR=/var/lib/parley \
    PARLEY_LOG_FORMAT=json \
    PARLEY_DRAIN_DELAY=5
VOLUME ["/var/lib/parley"]
EXPOSE 8080 8765
# Ready, not merely live: unready once a shutdown begins or the store is unreachable.
# With --broker-only, point it at the broker port: PARLEY_HEALTH_URL=http://127.0.0.1:8765/readyz
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request as u; u.urlopen(os.environ.get('PARLEY_HEALTH_URL', 'http://127.0.0.1:8080/readyz'), timeout=4)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["parley"]
CMD ["serve"]
