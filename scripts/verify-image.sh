#!/usr/bin/env bash
# Builds the image from the Dockerfile as it is, with Debian's podman, on a machine that cannot pull
# images or run containers, then runs what was built and checks it.
#
#   sudo bash scripts/verify-image.sh        (root: debootstrap, podman and chroot need it)
#
# 1. A stand-in for the Dockerfile's base image (node:24-bookworm-slim): a debootstrap'd Debian bookworm
#    root with this machine's Node binary, npm and Node headers (no network for node-gyp to fetch them),
#    this machine's CA bundle (so npm trusts what this machine trusts, an egress proxy's CA included),
#    and the image's `node` user (uid 1000), imported under the base image's name.
# 2. `podman build --isolation=chroot --pull=never` of the unchanged Dockerfile.
# 3. The built image's root filesystem exported and started with chroot as the image's user, with the
#    image's environment: /healthz, a feed (an HDHive stand-in served from files), the /data volume
#    (SQLite and the proxy secret written there, owned by the user), and a clean exit on SIGTERM.
#
# Needs: debootstrap, podman, python3 (apt-get install debootstrap podman python3). Takes 5-10 minutes
# (most of it debootstrap, apt-get and npm ci inside the build); the stand-in base is kept in
# VERIFY_IMAGE_CACHE (default /var/tmp/feedgate-verify-image) and reused.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in debootstrap podman python3 chroot; do
  command -v "$tool" >/dev/null || { echo "verify-image: needs $tool (apt-get install debootstrap podman python3)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "verify-image: run as root (debootstrap, podman and chroot need it)" >&2; exit 2; }

BASE_TAG=$(awk '/^FROM /{print $2; exit}' Dockerfile)
CACHE=${VERIFY_IMAGE_CACHE:-/var/tmp/feedgate-verify-image}
WORK=$(mktemp -d)
ROOTFS="$WORK/rootfs"
SERVER_PID=
STUB_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill -KILL "$SERVER_PID" 2>/dev/null || true
  [ -n "$STUB_PID" ] && kill "$STUB_PID" 2>/dev/null || true
  for m in proc dev; do umount -l "$ROOTFS/$m" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
step() { printf '\n== %s (%ss)\n' "$*" "$SECONDS"; }

# --- 1. The stand-in base image ----------------------------------------------------------------
NODE_BIN=$(command -v node)
NODE_PREFIX=$(dirname "$(dirname "$(readlink -f "$NODE_BIN")")")
NODE_VERSION=$(node -p process.version)
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
BASE_TAR="$CACHE/base-$NODE_VERSION-$(sha256sum "$CA_BUNDLE" | cut -c1-12).tar"
if [ ! -f "$BASE_TAR" ]; then
  step "debootstrap Debian bookworm (minbase) into $CACHE"
  mkdir -p "$CACHE"
  rm -rf "$CACHE/base"
  mirror=$( (grep -hoE 'https?://[^ ]+/debian/?$' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null || true) | head -n1)
  debootstrap --variant=minbase bookworm "$CACHE/base" "${mirror:-http://deb.debian.org/debian}" >"$CACHE/debootstrap.log"
  step "this machine's Node $NODE_VERSION, npm and headers into the base"
  install -D -m 0755 "$(readlink -f "$NODE_BIN")" "$CACHE/base/usr/local/bin/node"
  mkdir -p "$CACHE/base/usr/local/lib/node_modules" "$CACHE/base/usr/local/include" "$CACHE/base/usr/local/etc"
  cp -a "$NODE_PREFIX/lib/node_modules/npm" "$CACHE/base/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$CACHE/base/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$CACHE/base/usr/local/bin/npx"
  headers=$NODE_PREFIX/include/node
  [ -d "$headers" ] || headers=/usr/include/node
  cp -a "$headers" "$CACHE/base/usr/local/include/node"
  # The real image lets node-gyp download headers; here nothing can be downloaded.
  install -D -m 0644 "$CA_BUNDLE" "$CACHE/base$CA_BUNDLE"
  printf 'nodedir=/usr/local\ncafile=%s\n' "$CA_BUNDLE" >"$CACHE/base/usr/local/etc/npmrc"
  chroot "$CACHE/base" groupadd --gid 1000 node
  chroot "$CACHE/base" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  tar -C "$CACHE/base" -cf "$BASE_TAR" .
  rm -rf "$CACHE/base"
fi
step "import the base as $BASE_TAG"
podman import --change 'CMD ["node"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_EXTRA_CA_CERTS=$CA_BUNDLE" "$BASE_TAR" "$BASE_TAG" >/dev/null 2>&1

# --- 2. Build the unchanged Dockerfile ------------------------------------------------------------
step "podman build --isolation=chroot --pull=never"
podman build --isolation=chroot --pull=never -t feedgate:verify . >"$WORK/build.log" 2>&1 || { tail -n 60 "$WORK/build.log" >&2; exit 1; }

# --- 3. Run what was built ----------------------------------------------------------------------------
step "copy out the image's root filesystem"
# The image's own layers (a container export would replace the VOLUME directory with a fresh mount point).
mnt=$(podman image mount feedgate:verify)
mkdir -p "$ROOTFS"
cp -a "$mnt/." "$ROOTFS/"
podman image unmount feedgate:verify >/dev/null
inspect() { podman image inspect feedgate:verify --format "$1"; }
USER_NAME=$(inspect '{{.Config.User}}')
WORKDIR=$(inspect '{{.Config.WorkingDir}}')
mapfile -t IMAGE_ENV < <(inspect '{{range .Config.Env}}{{println .}}{{end}}' | sed '/^$/d')
CMD=$(inspect '{{json .Config.Cmd}}')
echo "user=$USER_NAME workdir=$WORKDIR cmd=$CMD env: ${IMAGE_ENV[*]}"
[ "$USER_NAME" = node ] || { echo "verify-image: the image should run as node, not '$USER_NAME'" >&2; exit 1; }
# Owners by number: this machine's names for uid 1000 need not be the image's.
USER_UID=$(awk -F: -v u="$USER_NAME" '$1==u{print $3}' "$ROOTFS/etc/passwd")
[ "$(stat -c %u "$ROOTFS/data")" = "$USER_UID" ] || { echo "verify-image: /data is not owned by $USER_NAME" >&2; exit 1; }
mount -t proc proc "$ROOTFS/proc"
mount --bind /dev "$ROOTFS/dev"
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf" 2>/dev/null || true

step "an HDHive stand-in served from files"
stub="$WORK/stub"
mkdir -p "$stub/api/open/resources/movie"
cat >"$stub/api/open/resources/movie/550" <<'JSON'
{"success":true,"code":"200","message":"success","data":[{"slug":"a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6","title":"Fight Club (1999)","pan_type":"115","share_size":"12.5GB","video_resolution":["1080P"],"source":["BluRay"],"subtitle_language":["简中"],"subtitle_type":[],"remark":"verify-image","unlock_points":0,"unlocked_users_count":1,"validate_status":"valid","is_official":false,"is_unlocked":false,"user":{"id":1,"nickname":"tester"},"created_at":"2026-11-01 09:00:00"}],"meta":{"total":1}}
JSON
stub_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$stub_port" --bind 127.0.0.1 --directory "$stub" >/dev/null 2>&1 &
STUB_PID=$!
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

step "start the built filesystem as $USER_NAME, with the image's environment"
# The image listens on 0.0.0.0:8080; here on a free loopback port, the rest as the image sets it.
env -i "${IMAGE_ENV[@]}" HOST=127.0.0.1 PORT="$port" HDHIVE_API_URL="http://127.0.0.1:$stub_port" HDHIVE_API_KEY=verify \
  chroot --userspec="$USER_NAME:$USER_NAME" "$ROOTFS" /bin/sh -c "cd '$WORKDIR' && exec node dist/server.js" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
fail() { echo "verify-image: $*" >&2; cat "$WORK/server.log" >&2; exit 1; }
curl -fsS "http://127.0.0.1:$port/healthz" | grep -q '"ok"' || fail "/healthz did not answer"
feed=$(curl -fsS "http://127.0.0.1:$port/feeds/hdhive/movie/550.json") || fail "the feed did not answer"
echo "$feed" | grep -q 'Fight Club' || fail "the feed lacks its item: $feed"
[ -s "$ROOTFS/data/feedgate.db" ] || fail "no feedgate.db in the /data volume"
[ "$(stat -c %u "$ROOTFS/data/feedgate.db")" = "$USER_UID" ] || fail "feedgate.db in /data is not the user's"
[ -s "$ROOTFS/data/proxy-secret" ] || fail "no proxy-secret in the /data volume"

step "SIGTERM"
kill -TERM "$SERVER_PID"
for _ in $(seq 1 60); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.25; done
kill -0 "$SERVER_PID" 2>/dev/null && fail "still running 15 s after SIGTERM"
wait "$SERVER_PID" && code=0 || code=$?
SERVER_PID=
[ "$code" = 0 ] || fail "exited with $code after SIGTERM"
grep -q '"msg":"stopped"' "$WORK/server.log" || fail "no clean stop in the log"

step "image verified: built, started as $USER_NAME, served /healthz and a feed, wrote /data, stopped cleanly on SIGTERM"
