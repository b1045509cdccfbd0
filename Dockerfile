# trailwatchd container image: multi-stage, non-root, read-only-root friendly.
#
#   docker build -t trailwatchd .
#   docker run --rm --read-only --tmpfs /tmp -v trailwatchd-state:/var/lib/trailwatchd -p 9108:9108 trailwatchd
#
# The default config (/etc/trailwatchd/trailwatchd.toml, from deploy/docker/trailwatchd.toml) runs the
# embedded demo over the bundled example CloudTrail files. Mount your own config and rules over
# /etc/trailwatchd; keep /var/lib/trailwatchd (state, spool) on a volume. Offline builds (no package index):
# put wheels in .image-wheels/ and pass --build-arg PIP_ARGS="--no-index --find-links /src/.image-wheels"
# (what `make image-test` does). BASE_IMAGE can be any Debian-based image with Python 3.11+ on PATH.

ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ARG PIP_ARGS=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY . /src
# The project and its pinned dependencies into one self-contained virtualenv.
RUN python3 -m venv /opt/trailwatchd \
    && /opt/trailwatchd/bin/pip install ${PIP_ARGS} /src \
    && /opt/trailwatchd/bin/trailwatchd --version

FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="trailwatchd" \
      org.opencontainers.image.description="CloudTrail detections with CloudWatch Logs metric filter patterns" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.documentation="docs/operations.md"
# A fixed uid/gid so volume permissions and Kubernetes runAsUser can name it.
RUN groupadd --system --gid 10001 trailwatchd \
    && useradd --system --no-log-init --uid 10001 --gid 10001 --home-dir /var/lib/trailwatchd \
       --shell /usr/sbin/nologin trailwatchd \
    && mkdir -p /var/lib/trailwatchd \
    && chown 10001:10001 /var/lib/trailwatchd
COPY --from=build /opt/trailwatchd /opt/trailwatchd
COPY config/rules /etc/trailwatchd/rules
COPY deploy/docker/trailwatchd.toml /etc/trailwatchd/trailwatchd.toml
COPY examples /usr/share/trailwatchd/examples
# Read-only root: no bytecode written at runtime; temporary files (worker processes) go to /tmp (tmpfs).
ENV PATH=/opt/trailwatchd/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/trailwatchd"]
WORKDIR /var/lib/trailwatchd
USER 10001:10001
EXPOSE 9108
# The daemon handles SIGTERM itself (drain within graceful_shutdown_secs), also as PID 1.
STOPSIGNAL SIGTERM
# No curl in the image: the daemon's own Python asks /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/opt/trailwatchd/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4)"]
ENTRYPOINT ["/opt/trailwatchd/bin/trailwatchd", "run"]
CMD ["--config", "/etc/trailwatchd/trailwatchd.toml"]
