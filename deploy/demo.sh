#!/usr/bin/env bash
# Squash Proxy, offline demo: a bloated image before and after the proxy, with no internet and no docker
# daemon needed.
#
#   1. starts a private Distribution registry (docker-registry) on a free 127.0.0.1 port;
#   2. builds a bloated image with umoci: busybox, then a 64 MiB random file, then a layer deleting it;
#   3. pushes it to the registry with skopeo;
#   4. starts the proxy jar (proxy/target/squash-proxy.jar, built with mvn if missing) in front of it;
#   5. pulls the image directly and through the proxy with skopeo: the first pull gets the original image
#      at once while the proxy squashes it in the background, the next the squashed one (and with docker,
#      if a daemon answers);
#   6. prints the layers and sizes before and after, and stops everything it started.
#
# Needs: bash, java 17, docker-registry, skopeo, umoci, busybox (Debian: apt-get install docker-registry
# skopeo umoci busybox-static). Environment:
#   SQUASH_PROXY_JAR   the proxy jar (default: proxy/target/squash-proxy.jar of this checkout)
#   DEMO_DOCKER        auto (default: use docker if a daemon answers), on (required), off
#   DEMO_BLOAT_MIB     size of the file added and deleted (default 64)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
JAR=${SQUASH_PROXY_JAR:-$ROOT/proxy/target/squash-proxy.jar}
DEMO_DOCKER=${DEMO_DOCKER:-auto}
BLOAT_MIB=${DEMO_BLOAT_MIB:-64}
REPO=demo/bloated
TAG=1

say() { printf '==> %s\n' "$*"; }
die() { printf 'demo.sh: %s\n' "$*" >&2; exit 1; }

# --- prerequisites ------------------------------------------------------------------------------------------
missing=()
for tool in java docker-registry skopeo umoci; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
BUSYBOX=$(command -v busybox 2>/dev/null || true)
[ -n "$BUSYBOX" ] || { [ -x /bin/busybox ] && BUSYBOX=/bin/busybox; } || missing+=(busybox)
if [ ${#missing[@]} -gt 0 ]; then
  die "missing tools: ${missing[*]} (Debian: apt-get install docker-registry skopeo umoci busybox-static openjdk-17-jre-headless)"
fi
case "$DEMO_DOCKER" in auto|on|off) ;; *) die "DEMO_DOCKER must be auto, on or off, not $DEMO_DOCKER" ;; esac

# --- cleanup: everything started here is stopped on any exit ------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/squash-demo.XXXXXX")
PIDS=()
DOCKER_IMAGE=""
cleanup() {
  local rc=$? pid
  set +e
  trap - EXIT INT TERM
  if [ -n "$DOCKER_IMAGE" ]; then
    docker rmi -f "$DOCKER_IMAGE" >/dev/null 2>&1
  fi
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  # On a failure (not on Ctrl-C or kill), the ends of the logs say why.
  if [ $rc -ne 0 ] && [ $rc -ne 130 ] && [ $rc -ne 143 ] && [ -f "$WORK/proxy.log" ]; then
    printf '\n--- proxy log (last 30 lines) ---\n' >&2
    tail -n 30 "$WORK/proxy.log" >&2
  fi
  chmod -R u+rwX "$WORK" 2>/dev/null
  rm -rf "$WORK"
  echo "==> stopped everything the demo started; removed $WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers ------------------------------------------------------------------------------------------------
USED_PORTS=" "
# A 127.0.0.1 port nothing listens on (nothing answers a connect).
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    case "$USED_PORTS" in *" $p "*) continue ;; esac
    if ! { exec 9<>"/dev/tcp/127.0.0.1/$p"; } 2>/dev/null; then
      USED_PORTS="$USED_PORTS$p "
      echo "$p"
      return 0
    fi
    exec 9<&- 9>&-
  done
  die "found no free port on 127.0.0.1"
}

# http_get PORT PATH: prints the body; succeeds on a 200. Plain bash, no curl needed.
http_get() {
  local status line
  { exec 8<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\n\r\n' "$2" "$1" >&8
  IFS= read -r status <&8 || status=""
  while IFS= read -r line <&8; do
    [ -n "${line%$'\r'}" ] || break
  done
  cat <&8
  exec 8<&- 8>&-
  [[ $status == *" 200"* ]]
}

# wait_http PID PORT PATH WHAT: waits up to 60 s for a 200.
wait_http() {
  for _ in $(seq 1 600); do
    kill -0 "$1" 2>/dev/null || return 1
    http_get "$2" "$3" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "$4 did not answer http://127.0.0.1:$2$3 within 60 s"
}

# human BYTES: 1.0 MiB
human() {
  awk -v b="$1" 'BEGIN { split("B KiB MiB GiB", u, " "); i = 1; while (b >= 1024 && i < 4) { b /= 1024; i++ }
    printf(i == 1 ? "%d %s" : "%.1f %s", b, u[i]) }'
}

# layers REF DIR: one "DIGEST SIZE" line per layer of the image REF, which was pulled into the OCI layout DIR
# (the sizes are those of the blobs pulled).
layers() {
  local digest
  skopeo inspect --tls-verify=false --format '{{range .Layers}}{{.}};{{end}}' "$1" | tr ';' '\n' \
    | while read -r digest; do
      [ -n "$digest" ] || continue
      printf '%s %s\n' "$digest" "$(stat -c %s "$2/blobs/${digest%%:*}/${digest#*:}")"
    done
}

now() { echo "${EPOCHREALTIME/,/.}"; }
seconds_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf("%.2f s", b - a) }'; }

print_layers() {
  local title=$1 file=$2 i=0 digest size
  echo "$title"
  while read -r digest size; do
    i=$((i + 1))
    printf '  %2d  %s  %12s\n' "$i" "${digest:0:19}…" "$(human "$size")"
  done <"$file"
}

sum_sizes() { awk '{ s += $2 } END { printf("%d", s) }' "$1"; }

# --- 1. the proxy jar ---------------------------------------------------------------------------------------
if [ ! -f "$JAR" ]; then
  say "building $JAR (mvn -DskipTests package, offline first)"
  command -v mvn >/dev/null 2>&1 || die "$JAR is missing and mvn is not installed"
  (cd "$ROOT" && { mvn -B -q -o -DskipTests -pl proxy -am package || mvn -B -q -DskipTests -pl proxy -am package; })
  [ -f "$JAR" ] || die "the build did not produce $JAR"
fi

# --- 2. a private registry ----------------------------------------------------------------------------------
REG_PORT=$(free_port)
mkdir -p "$WORK/registry"
cat >"$WORK/registry.yml" <<EOF
version: 0.1
log: { level: warn, accesslog: { disabled: true } }
storage: { filesystem: { rootdirectory: $WORK/registry }, delete: { enabled: true } }
http: { addr: 127.0.0.1:$REG_PORT }
EOF
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
PIDS+=($!)
wait_http "$!" "$REG_PORT" /v2/ "the registry" || die "the registry exited: $(tail -n 5 "$WORK/registry.log")"
say "registry (Distribution) on 127.0.0.1:$REG_PORT"

# --- 3. a bloated image, built without a daemon -------------------------------------------------------------
UMOCI_ROOTLESS=()
[ "$(id -u)" -eq 0 ] || UMOCI_ROOTLESS=(--rootless)
OCI="$WORK/oci"
BUNDLE="$WORK/bundle"
umoci init --layout "$OCI"
umoci new --image "$OCI:bloated"
umoci config --image "$OCI:bloated" --config.cmd /bin/sh --author "squash-proxy demo"
umoci unpack "${UMOCI_ROOTLESS[@]}" --image "$OCI:bloated" "$BUNDLE"
mkdir -p "$BUNDLE/rootfs/bin" "$BUNDLE/rootfs/tmp"
cp "$BUSYBOX" "$BUNDLE/rootfs/bin/busybox"
for applet in sh ls cat du df rm; do
  ln -s busybox "$BUNDLE/rootfs/bin/$applet"
done
umoci repack --image "$OCI:bloated" --refresh-bundle --history.created_by "COPY busybox /bin/" "$BUNDLE"
head -c "$((BLOAT_MIB * 1024 * 1024))" /dev/urandom >"$BUNDLE/rootfs/tmp/bloat.bin"
umoci repack --image "$OCI:bloated" --refresh-bundle \
  --history.created_by "RUN head -c ${BLOAT_MIB}M /dev/urandom > /tmp/bloat.bin" "$BUNDLE"
rm "$BUNDLE/rootfs/tmp/bloat.bin"
umoci repack --image "$OCI:bloated" --refresh-bundle --history.created_by "RUN rm /tmp/bloat.bin" "$BUNDLE"
say "built $REPO:$TAG with umoci: busybox, + ${BLOAT_MIB} MiB random file, - that file"

skopeo copy --quiet --dest-tls-verify=false --format v2s2 "oci:$OCI:bloated" \
  "docker://127.0.0.1:$REG_PORT/$REPO:$TAG"
say "pushed it to 127.0.0.1:$REG_PORT/$REPO:$TAG with skopeo"

# --- 4. the proxy in front of the registry ------------------------------------------------------------------
PROXY_PORT=""
for attempt in 1 2 3; do
  port=$(free_port)
  admin=$(free_port)
  java -Xmx256m -XX:+UseSerialGC -jar "$JAR" serve --upstream "http://127.0.0.1:$REG_PORT" \
    --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" --cache-dir "$WORK/cache" \
    >"$WORK/proxy.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  if wait_http "$pid" "$admin" /readyz "the proxy" && wait_http "$pid" "$port" /v2/ "the proxy"; then
    PROXY_PORT=$port
    ADMIN_PORT=$admin
    break
  fi
  say "the proxy did not start (attempt $attempt): $(tail -n 3 "$WORK/proxy.log")"
done
[ -n "$PROXY_PORT" ] || die "the proxy did not start"
say "squash-proxy on 127.0.0.1:$PROXY_PORT (admin 127.0.0.1:$ADMIN_PORT), upstream http://127.0.0.1:$REG_PORT"

# --- 5. pulls -----------------------------------------------------------------------------------------------
DIRECT="docker://127.0.0.1:$REG_PORT/$REPO:$TAG"
PROXIED="docker://127.0.0.1:$PROXY_PORT/$REPO:$TAG"

t=$(now)
skopeo copy --quiet --src-tls-verify=false "$DIRECT" "oci:$WORK/pulled-direct:img"
T_DIRECT=$(seconds_since "$t")
layers "$DIRECT" "$WORK/pulled-direct" >"$WORK/layers-before"

# The first pull through the proxy does not wait for the squash (squash.rules[].wait, default 0s): it gets
# the original image as fast as from a plain mirror, and the proxy squashes it in the background from the
# same downloads. The pulls after that get the squashed image.
t=$(now)
skopeo copy --quiet --src-tls-verify=false "$PROXIED" "oci:$WORK/pulled-proxy:img"
T_FIRST=$(seconds_since "$t")
layers "$PROXIED" "$WORK/pulled-proxy" >"$WORK/layers-first"
for _ in $(seq 1 600); do
  http_get "$ADMIN_PORT" /metrics 2>/dev/null | grep -Eq '^squash_proxy_squashes_total [1-9]' && break
  sleep 0.1
done
t=$(now)
skopeo copy --quiet --src-tls-verify=false "$PROXIED" "oci:$WORK/pulled-proxy-again:img"
T_AGAIN=$(seconds_since "$t")
layers "$PROXIED" "$WORK/pulled-proxy-again" >"$WORK/layers-after"
say "pulled $REPO:$TAG with skopeo: directly, then twice through the proxy (the second after its squash)"
N_FIRST=$(wc -l <"$WORK/layers-first" | tr -d ' ')
B_FIRST=$(sum_sizes "$WORK/layers-first")
N_BEFORE=$(wc -l <"$WORK/layers-before" | tr -d ' ')
N_AFTER=$(wc -l <"$WORK/layers-after" | tr -d ' ')
B_BEFORE=$(sum_sizes "$WORK/layers-before")
B_AFTER=$(sum_sizes "$WORK/layers-after")

DOCKER_ROW=""
DOCKER_NOTE=""
if [ "$DEMO_DOCKER" != off ]; then
  if command -v docker >/dev/null 2>&1 && timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    image="127.0.0.1:$PROXY_PORT/$REPO:$TAG"
    t=$(now)
    if docker pull -q "$image" >"$WORK/docker.log" 2>&1; then
      DOCKER_IMAGE=$image
      T_DOCKER=$(seconds_since "$t")
      read -r d_layers d_size < <(docker image inspect --format '{{len .RootFS.Layers}} {{.Size}}' "$image")
      DOCKER_ROW=$(printf '%-34s %7s %14s %10s' "docker, squash-proxy (cached)" "$d_layers" "$(human "$B_AFTER")" "$T_DOCKER")
      DOCKER_NOTE="docker: $image has $d_layers layer(s), $(human "$d_size") unpacked"
      say "pulled $image with docker"
    elif [ "$DEMO_DOCKER" = on ]; then
      die "docker pull $image failed: $(cat "$WORK/docker.log")"
    else
      say "docker pull $image failed (a daemon on another host cannot reach 127.0.0.1): $(tail -n 1 "$WORK/docker.log")"
    fi
  elif [ "$DEMO_DOCKER" = on ]; then
    die "DEMO_DOCKER=on but no docker daemon answers"
  else
    say "no docker daemon answers: skipping the docker pull"
  fi
fi

# --- 6. before and after ------------------------------------------------------------------------------------
echo
print_layers "Layers in the registry (127.0.0.1:$REG_PORT/$REPO:$TAG):" "$WORK/layers-before"
print_layers "Layers through squash-proxy (127.0.0.1:$PROXY_PORT/$REPO:$TAG):" "$WORK/layers-after"
echo
printf '%-34s %7s %14s %10s\n' "pull" "layers" "compressed" "time"
printf '%-34s %7s %14s %10s\n' "skopeo, registry directly" "$N_BEFORE" "$(human "$B_BEFORE")" "$T_DIRECT"
printf '%-34s %7s %14s %10s\n' "skopeo, squash-proxy (first pull)" "$N_FIRST" "$(human "$B_FIRST")" "$T_FIRST"
printf '%-34s %7s %14s %10s\n' "skopeo, squash-proxy (squashed)" "$N_AFTER" "$(human "$B_AFTER")" "$T_AGAIN"
[ -z "$DOCKER_ROW" ] || echo "$DOCKER_ROW"
[ -z "$DOCKER_NOTE" ] || { echo; echo "$DOCKER_NOTE"; }
echo
squashed=$(grep -o 'squashed .*' "$WORK/proxy.log" | head -n 1 || true)
[ -z "$squashed" ] || echo "proxy log: $squashed"
http_get "$ADMIN_PORT" /metrics 2>/dev/null \
  | grep -E '^squash_proxy_(squashes_total|squash_saved_bytes_total|upstream_requests_total)' \
  | sed 's/^/metrics: /' || true
echo
echo "demo result: layers $N_BEFORE -> $N_AFTER, compressed bytes $B_BEFORE -> $B_AFTER"

[ "$N_AFTER" -lt "$N_BEFORE" ] && [ "$B_AFTER" -lt "$B_BEFORE" ] || die "the image was not squashed (see above)"
