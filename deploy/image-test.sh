#!/usr/bin/env bash
# `make image-test`: build the real images from the Dockerfile with podman and prove that the
# container a user starts serves, runs unprivileged, drains on SIGTERM, and that the compose
# file's cpu profile is scraped by Prometheus. Needs root, Debian's apt repos and the Python
# package index the host uses; nothing from Docker Hub.
#
# Every check prints `ok: ...` or `FAIL: ...`; any FAIL makes the script exit 1. The trap removes
# only what this run created (its containers, its compose project, its podman API service);
# the images stay, so the next run reuses podman's layer cache, and the debootstrap tarball is
# cached by deploy/podman/build-base.sh.
#
# Environment: ALI_IMAGE_TEST_READY_S (readiness bound, default 60), ALI_IMAGE_TEST_COMPOSE=0
# (skip the compose part), PIP_INDEX_URL / PIP_CERT (else the host pip's settings, else pip's
# defaults with the system CA bundle).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

export CONTAINERS_CONF=$ROOT/deploy/podman/containers.conf
READY_S=${ALI_IMAGE_TEST_READY_S:-60}
STOP_S=30 # podman stop -t: SIGKILL after this; the service must be gone well before
RUN_ID=ali-image-test-$$
CPU_IMAGE=localhost/ali-service:cpu
GPU_IMAGE=localhost/ali-service:gpu-debian # the gpu target's recipe on the Debian base
PROM_IMAGE=localhost/ali-prometheus:debian
PROJECT=aliimagetest$$
COMPOSE=(docker-compose -p "$PROJECT" -f docker-compose.yml -f deploy/podman/compose.override.yml)

T0=$(date +%s.%N)
fails=0
ok() { echo "ok: $*"; }
fail() {
  echo "FAIL: $*"
  fails=$((fails + 1))
}
die() {
  echo "FAIL: $*"
  exit 1
}
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
step() { echo "--- $* ($(since "$T0") s)"; }

tmp=$(mktemp -d /tmp/ali-image-test.XXXXXX)
containers=()
compose_up=0
service_pid=
cleanup() {
  local rc=$?
  set +e
  for c in "${containers[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1; done
  if [ $compose_up = 1 ]; then
    COMPOSE_PROFILES=cpu DOCKER_HOST=unix://$tmp/podman.sock "${COMPOSE[@]}" down -t 5 \
      >"$tmp/compose-down.log" 2>&1 || cat "$tmp/compose-down.log"
  fi
  if [ -n "$service_pid" ]; then
    kill "$service_pid" 2>/dev/null
    wait "$service_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT

# ---- tools ------------------------------------------------------------------------------------
step "tools"
need=()
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
[ -x /usr/lib/podman/netavark ] || need+=(netavark)
[ -x /usr/lib/podman/aardvark-dns ] || need+=(aardvark-dns)
# netavark sets container networks up with iptables; only recommended, so --no-install-recommends
# leaves it out, and then every `podman run` fails: "netavark: No such file or directory".
command -v iptables >/dev/null || need+=(iptables)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${need[*]} (apt-get install them, or run as root)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}" \
    >"$tmp/apt.log" 2>&1 || {
    tail -20 "$tmp/apt.log"
    die "apt-get install ${need[*]}"
  }
  ok "installed ${need[*]}"
fi
ok "$(podman --version), runtime $(podman info --format '{{.Host.OCIRuntime.Name}}'), network $(podman info --format '{{.Host.NetworkBackend}}'), $(docker-compose version --short 2>/dev/null | sed 's/^/docker-compose /')"

# ---- helpers ----------------------------------------------------------------------------------
# http URL [curl args...]: body to $tmp/body, prints "CODE CONTENT_TYPE"; only loopback URLs.
http() {
  local url=$1
  shift
  curl -s --max-time 20 -o "$tmp/body" -w '%{http_code} %{content_type}' "$@" "$url" || true
}

# wait_ready URL SECONDS WANT_CODE: poll URL/readyz until it answers WANT_CODE with a body that
# is no longer "loading models"; prints the seconds it took, returns 1 on timeout.
wait_ready() {
  local url=$1 bound=$2 want=$3 start code
  start=$(date +%s.%N)
  while awk -v a="$start" -v b="$(date +%s.%N)" -v n="$bound" 'BEGIN { exit !(b - a < n) }'; do
    code=$(http "$url/readyz" | cut -d' ' -f1)
    if [ "$code" = "$want" ] && ! grep -q "loading models" "$tmp/body"; then
      since "$start"
      return 0
    fi
    sleep 0.3
  done
  return 1
}

check() { python3 deploy/podman/checks.py "$@" 2>&1; }

# host_port CONTAINER: the loopback port published for the container's 8000.
host_port() { podman port "$1" 8000 | head -1 | sed 's/.*://'; }

# ---- base image and pip settings --------------------------------------------------------------
step "base image"
start=$(date +%s.%N)
BASE=$(deploy/podman/build-base.sh) || die "base image (deploy/podman/build-base.sh)"
ok "base image $BASE ($(since "$start") s; $(podman run --rm "$BASE" python --version 2>&1))"

# pip inside the build uses the index and CA bundle the host uses, as a user behind a private
# index or TLS-intercepting proxy would pass them (README, "Deploy").
pipconf() { python3 -m pip config get "$1" 2>/dev/null || true; }
INDEX=${PIP_INDEX_URL:-$(pipconf global.index-url)}
INDEX=${INDEX:-https://pypi.org/simple}
CA=${PIP_CERT:-$(pipconf global.cert)}
CA=${CA:-/etc/ssl/certs/ca-certificates.crt}
[ -f "$CA" ] || die "CA bundle $CA not found (set PIP_CERT)"
# The host's bundle is mounted over the image's own for the build's RUN steps only: a mount at a
# new path would leave an empty file behind in every stage (buildah 1.28).
BUILD=(podman build --format docker --pull=never --network host
  --volume "$CA:/etc/ssl/certs/ca-certificates.crt:ro"
  --build-arg "PIP_INDEX_URL=$INDEX" --build-arg PIP_CERT=/etc/ssl/certs/ca-certificates.crt)
echo "pip in the build: index $INDEX, CA bundle $CA"

# build NAME IMAGE ARGS...: build with a log; drop this script's previous image of that tag.
build() {
  local name=$1 image=$2 old new start
  shift 2
  old=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  start=$(date +%s.%N)
  if ! "${BUILD[@]}" -t "$image" "$@" >"$tmp/build-$name.log" 2>&1; then
    tail -30 "$tmp/build-$name.log"
    die "build $name"
  fi
  new=$(podman image inspect --format '{{.Id}}' "$image")
  if [ -n "$old" ] && [ "$old" != "$new" ]; then podman rmi "$old" >/dev/null 2>&1 || true; fi
  ok "built $name -> $image ($(since "$start") s)"
}

size_mb() { podman image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'; }

no_torch() {
  local image=$1 list
  list=$(podman run --rm "$image" pip list --format=freeze 2>/dev/null) || {
    fail "pip list in $image"
    return
  }
  if grep -qi '^torch' <<<"$list"; then
    fail "torch is installed in $image: $(grep -i '^torch' <<<"$list" | tr '\n' ' ')"
  else
    ok "no torch in $image ($(grep -ci . <<<"$list") packages; $(grep -i '^onnxruntime' <<<"$list" | paste -sd' '))"
  fi
}

# ---- cpu target -------------------------------------------------------------------------------
step "cpu target"
build cpu "$CPU_IMAGE" --target cpu --build-arg "PYTHON_IMAGE=$BASE" .
hc=$(podman image inspect --format '{{json .Config.Healthcheck}}' "$CPU_IMAGE")
if grep -q readyz <<<"$hc"; then ok "image keeps its HEALTHCHECK (--format docker): $hc"; else fail "no HEALTHCHECK in $CPU_IMAGE: $hc"; fi
ok "image size $CPU_IMAGE: $(size_mb "$CPU_IMAGE")"
no_torch "$CPU_IMAGE"

# The models are mounted read-only over the copy in the image; ALI_SHUTDOWN_DELAY_S=2 gives the
# drain check a window to see /readyz turn 503.
start=$(date +%s.%N)
cid=$(podman run -d --name "$RUN_ID-cpu" -p 127.0.0.1::8000 \
  -v "$ROOT/models:/app/models:ro" -e ALI_SHUTDOWN_DELAY_S=2 "$CPU_IMAGE" 2>"$tmp/run.err") || {
  cat "$tmp/run.err"
  die "podman run $CPU_IMAGE"
}
containers+=("$cid")
url=http://127.0.0.1:$(host_port "$cid")
if took=$(wait_ready "$url" "$READY_S" 200); then
  ok "/readyz 200 after $took s (bound $READY_S s; container started $(since "$start") s ago): $(cat "$tmp/body")"
else
  podman logs --tail 30 "$cid" 2>&1
  die "/readyz not 200 within $READY_S s: $(cat "$tmp/body" 2>/dev/null)"
fi

read -r code ctype <<<"$(http "$url/sample?n=64&seed=0")"
if [ "$code" = 200 ] && [ "$ctype" = image/png ] && out=$(check png "$tmp/body"); then
  ok "GET /sample?n=64 -> 200 image/png, $out"
else
  fail "GET /sample?n=64 -> $code $ctype ${out:-}"
fi

# A digit drawn by the model itself, sent back as a PNG upload.
http "$url/sample?n=1&seed=3" >/dev/null
cp "$tmp/body" "$tmp/digit.png"
read -r code ctype <<<"$(http "$url/encode" -F "images=@$tmp/digit.png;type=image/png")"
if [ "$code" = 200 ] && out=$(check encode "$tmp/body" 256); then
  ok "POST /encode (one digit PNG) -> 200, $out"
else
  fail "POST /encode -> $code: ${out:-} $(head -c 300 "$tmp/body")"
fi

uid=$(podman exec "$cid" awk '/^Uid:/ { print $2 }' /proc/1/status) || true
comm=$(podman exec "$cid" cat /proc/1/cmdline | tr '\0' ' ') || true
if [ "$uid" = 10001 ]; then ok "PID 1 ($comm) runs as uid $uid"; else fail "PID 1 ($comm) runs as uid $uid, not 10001"; fi

rw=$(podman inspect --format '{{range .Mounts}}{{if eq .Destination "/app/models"}}{{.RW}}{{end}}{{end}}' "$cid") || true
if [ "$rw" = false ] && ! podman exec "$cid" touch /app/models/.probe 2>"$tmp/touch.err"; then
  ok "/app/models is a read-only mount ($(tr -d '\n' <"$tmp/touch.err" | sed 's/.*: //')) and the service is ready"
else
  fail "/app/models is not read-only (RW=$rw)"
fi

if out=$(podman healthcheck run "$cid" 2>&1); then ok "podman healthcheck run: ${out:-healthy}"; else fail "podman healthcheck run: $out"; fi

# SIGTERM: /readyz turns 503 at once, in-flight work finishes, the process exits 0.
start=$(date +%s.%N)
podman stop -t "$STOP_S" "$cid" >/dev/null 2>&1 &
stop_pid=$!
saw=
for _ in $(seq 50); do
  read -r code _ <<<"$(http "$url/readyz")"
  if [ "$code" = 503 ] && grep -q draining "$tmp/body"; then
    saw=$(cat "$tmp/body")
    break
  fi
  sleep 0.1
done
# The listener stays open through ALI_SHUTDOWN_DELAY_S, so a request that arrives now is served.
late=$(http "$url/sample?n=1&seed=1" | cut -d' ' -f1)
wait "$stop_pid" || true
took=$(since "$start")
exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$cid") || true
if [ -n "$saw" ]; then ok "after SIGTERM /readyz -> 503 $saw"; else fail "after SIGTERM /readyz never answered 503 draining"; fi
if [ "$late" = 200 ]; then ok "while draining GET /sample is still served (200)"; else fail "while draining GET /sample -> $late"; fi
if [ "$exit_code" = 0 ] && awk -v t="$took" -v s="$STOP_S" 'BEGIN { exit !(t < s) }'; then
  ok "podman stop -t $STOP_S: exited 0 after $took s ($(podman logs "$cid" 2>&1 | grep -c 'Finished server process') 'Finished server process' in the log)"
else
  podman logs --tail 20 "$cid" 2>&1
  fail "podman stop: exit code $exit_code after $took s (timeout $STOP_S s)"
fi

# ---- gpu target's recipe on the Debian base ---------------------------------------------------
step "gpu recipe"
build gpu-recipe "$GPU_IMAGE" --target gpu --build-arg "CUDA_IMAGE=$BASE" .
ok "image size $GPU_IMAGE: $(size_mb "$GPU_IMAGE")"
no_torch "$GPU_IMAGE"
if out=$(podman run --rm "$GPU_IMAGE" python -c '
import importlib.metadata as md, onnxruntime as ort
offered = ort.get_available_providers()
assert "CUDAExecutionProvider" in offered, offered
try:
    md.version("onnxruntime")
    raise SystemExit("the CPU onnxruntime wheel is still installed")
except md.PackageNotFoundError:
    pass
version = md.version("onnxruntime-gpu")
print(f"onnxruntime-gpu {version} installed alone, imports, offers {offered}")
' 2>"$tmp/run.err"); then
  ok "$(tail -1 <<<"$out")"
else
  fail "onnxruntime-gpu in $GPU_IMAGE: $out $(grep -v systemd "$tmp/run.err")"
fi

cid=$(podman run -d --name "$RUN_ID-gpu" -p 127.0.0.1::8000 -e ALI_REQUIRE_GPU=true \
  "$GPU_IMAGE" 2>"$tmp/run.err") || {
  cat "$tmp/run.err"
  die "podman run $GPU_IMAGE"
}
containers+=("$cid")
url=http://127.0.0.1:$(host_port "$cid")
if took=$(wait_ready "$url" "$READY_S" 503) && grep -q "CUDA not active" "$tmp/body"; then
  ok "ALI_REQUIRE_GPU=true without a GPU: /readyz 503 after $took s: $(cat "$tmp/body")"
else
  podman logs --tail 20 "$cid" 2>&1 | grep -v onnxruntime
  fail "ALI_REQUIRE_GPU=true without a GPU: /readyz $(cat "$tmp/body" 2>/dev/null)"
fi
read -r code _ <<<"$(http "$url/models")"
if [ "$code" = 200 ] && out=$(check cpu-providers "$tmp/body"); then
  ok "GET /models names the providers really used (CUDA failed to load): $out"
else
  fail "GET /models -> $code: ${out:-} $(head -c 300 "$tmp/body")"
fi
if out=$(podman healthcheck run "$cid" 2>&1); then
  fail "podman healthcheck run says healthy although /readyz is 503"
else
  ok "podman healthcheck run: ${out:-unhealthy} (as designed while /readyz is 503)"
fi
podman rm -f -t 0 "$cid" >/dev/null 2>&1

# ---- compose cpu profile with Prometheus ------------------------------------------------------
if [ "${ALI_IMAGE_TEST_COMPOSE:-1}" != 0 ]; then
  step "compose"
  build prometheus "$PROM_IMAGE" -f deploy/podman/prometheus.Containerfile \
    --build-arg "BASE_IMAGE=$BASE" deploy/podman
  # The compose file publishes Prometheus on the host's 9090.
  if ! python3 -c 'import socket; s = socket.socket(); s.bind(("0.0.0.0", 9090))' 2>/dev/null; then
    die "port 9090 is taken on this host (a Prometheus service?); the compose file publishes Prometheus there"
  fi
  podman system service --time=0 "unix://$tmp/podman.sock" >"$tmp/service.log" 2>&1 &
  service_pid=$!
  for _ in $(seq 50); do
    [ -S "$tmp/podman.sock" ] && break
    sleep 0.1
  done
  export DOCKER_HOST=unix://$tmp/podman.sock COMPOSE_PROFILES=cpu
  compose_up=1
  start=$(date +%s.%N)
  "${COMPOSE[@]}" up -d --no-build --scale api-cpu=2 >"$tmp/compose.log" 2>&1 || {
    cat "$tmp/compose.log"
    die "docker-compose up (cpu profile) against podman system service"
  }
  ok "docker-compose $(docker-compose version --short) up -d (COMPOSE_PROFILES=cpu, api-cpu x2 + prometheus) on podman's Docker API ($(since "$start") s): $(podman ps --filter "label=com.docker.compose.project=$PROJECT" --format '{{.Names}}' | sort | tr '\n' ' ')"
  ports=()
  for i in 1 2; do ports+=("$("${COMPOSE[@]}" port --index "$i" api-cpu 8000 | sed 's/.*://')"); done
  for p in "${ports[@]}"; do
    if took=$(wait_ready "http://127.0.0.1:$p" "$READY_S" 200); then ok "compose api replica on :$p ready after $took s"; else fail "compose api replica on :$p: /readyz $(cat "$tmp/body")"; fi
  done
  for p in "${ports[@]}"; do for i in $(seq 5); do http "http://127.0.0.1:$p/sample?n=2&seed=$i" >/dev/null; done; done

  # Prometheus finds the replicas by the DNS name `api` (deploy/prometheus/prometheus.yml).
  prom=http://127.0.0.1:9090
  query='sum(ali_requests_total{endpoint="/sample",code="200"})'
  value='' targets=''
  deadline=$(($(date +%s) + 60))
  while [ "$(date +%s)" -lt $deadline ]; do
    if [ "$(http "$prom/api/v1/targets" | cut -d' ' -f1)" = 200 ]; then
      targets=$(check targets "$tmp/body") || true
    fi
    if [ "$(http "$prom/api/v1/query" -G --data-urlencode "query=$query" | cut -d' ' -f1)" = 200 ]; then
      value=$(check value "$tmp/body") || true
    fi
    [ "$(grep -o ':up' <<<"$targets" | wc -l)" = 2 ] && [ "${value:-0}" -ge 10 ] 2>/dev/null && break
    sleep 1
  done
  if [ "$(grep -o 'api->[^ ]*:up' <<<"$targets" | wc -l)" = 2 ]; then
    ok "Prometheus discovered both api replicas by the service name: $targets"
  else
    fail "Prometheus targets: ${targets:-none}"
  fi
  if [ "${value:-0}" -ge 10 ] 2>/dev/null; then
    ok "Prometheus HTTP API: $query = $value (the 10 /sample requests sent)"
  else
    podman logs --tail 10 "${PROJECT}_prometheus_1" 2>&1
    fail "Prometheus HTTP API: $query = ${value:-no result} (want >= 10)"
  fi
fi

# ---- summary ----------------------------------------------------------------------------------
step "done"
if [ $fails -gt 0 ]; then
  echo "image-test: $fails check(s) FAILED in $(since "$T0") s"
  exit 1
fi
echo "image-test: all checks passed in $(since "$T0") s"
