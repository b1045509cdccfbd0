#!/usr/bin/env bash
# `make image-test`: build the image for real, run it read-only, check /healthz and one alert.
#
# Opt-in (not part of `make test`). It works on a machine without registry access, as CI machines and this
# project's dev machines are:
#   1. a Docker engine: the running one, or `dockerd --bridge=none --iptables=false` started here (host
#      networking only; Debian package docker.io, installed with apt-get if missing, as root);
#   2. the base image: `docker pull` is not possible, so a Debian bookworm root filesystem with python3 is
#      built with debootstrap and imported (`docker import`) as trailwatchd-base:bookworm;
#   3. Python packages: pip inside the build has no index, so the wheels are built on the host into
#      .image-wheels/ and the build runs with --network none and PIP_ARGS="--no-index --find-links ...".
# When no engine can start, it says so and exits 0 (SKIPPED), so CI stays green where Docker cannot run.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-.venv/bin/python}
IMAGE=${IMAGE:-trailwatchd:image-test}
BASE=${BASE:-trailwatchd-base:bookworm}
WORK=$(mktemp -d)
STARTED_DOCKERD=""
CONTAINER=""
log() { printf 'image-test: %s\n' "$*"; }
skip() { log "SKIPPED: $*"; exit 0; }
cleanup() {
  [ -n "$CONTAINER" ] && docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
  [ -n "$STARTED_DOCKERD" ] && kill "$STARTED_DOCKERD" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# 1. An engine.
if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      log "installing docker.io and debootstrap (apt-get)"
      apt-get install -y --no-install-recommends docker.io debootstrap >/dev/null || skip "apt-get could not install docker.io"
    else
      skip "no Docker engine and no dockerd to start (install docker.io, or run as root)"
    fi
  fi
  log "starting dockerd --bridge=none --iptables=false (log: $WORK/dockerd.log)"
  dockerd --bridge=none --iptables=false --ip6tables=false >"$WORK/dockerd.log" 2>&1 &
  STARTED_DOCKERD=$!
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 "$WORK/dockerd.log"; skip "dockerd did not start here (see the log above)"; }
fi
log "engine: $(docker version --format '{{.Server.Version}}')"

# 2. A base image without a registry.
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || apt-get install -y --no-install-recommends debootstrap >/dev/null
  log "debootstrap bookworm with python3 into $WORK/rootfs (a few minutes)"
  debootstrap --variant=minbase --include=python3,python3-venv bookworm "$WORK/rootfs" \
    "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log"; skip "debootstrap failed (no Debian mirror reachable?)"; }
  tar -C "$WORK/rootfs" -c . | docker import - "$BASE" >/dev/null
  rm -rf "$WORK/rootfs"
fi

# 3. Wheels on the host, an offline build.
log "building wheels into .image-wheels/"
rm -rf .image-wheels && mkdir .image-wheels
"$PYTHON" -m pip wheel -q -w .image-wheels . setuptools wheel
log "docker build --network none"
docker build -q --network none --build-arg BASE_IMAGE="$BASE" \
  --build-arg PIP_ARGS="--no-index --find-links /src/.image-wheels" -t "$IMAGE" . >/dev/null

# 4. Run it as production would: read-only root, tmpfs /tmp, a volume for state, host network.
mkdir -p "$WORK/state" && chown 10001:10001 "$WORK/state" 2>/dev/null || chmod 0777 "$WORK/state"
CONTAINER=$(docker run -d --network host --read-only --tmpfs /tmp -v "$WORK/state:/var/lib/trailwatchd" "$IMAGE")
for _ in $(seq 60); do
  curl -fsS http://127.0.0.1:9108/healthz >/dev/null 2>&1 && break
  sleep 1
done
curl -fsS http://127.0.0.1:9108/healthz >/dev/null \
  || { docker logs "$CONTAINER" >"$WORK/container.log" 2>&1; tail -30 "$WORK/container.log"; log "FAILED: /healthz"; exit 1; }
log "/healthz ok"
# (logs go to a file first: `docker logs | grep -q` under pipefail fails when grep stops reading early)
for _ in $(seq 60); do
  docker logs "$CONTAINER" >"$WORK/container.log" 2>&1
  grep -q '"rule_id"' "$WORK/container.log" && break
  sleep 1
done
grep -m1 '"rule_id"' "$WORK/container.log" | cut -c1-200 \
  || { tail -30 "$WORK/container.log"; log "FAILED: no alert"; exit 1; }
log "alert seen; health status: $(docker inspect --format '{{.State.Health.Status}}' "$CONTAINER" 2>/dev/null || echo n/a)"
docker stop -t 45 "$CONTAINER" >/dev/null
code=$(docker inspect --format '{{.State.ExitCode}}' "$CONTAINER")
[ "$code" = 0 ] || { docker logs "$CONTAINER" >"$WORK/container.log" 2>&1; tail -20 "$WORK/container.log"; log "FAILED: exit status $code after SIGTERM"; exit 1; }
log "PASSED: image builds offline, runs read-only as uid $(docker inspect --format '{{.Config.User}}' "$IMAGE"), serves /healthz, alerts, drains on SIGTERM (exit 0)"
