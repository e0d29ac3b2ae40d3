#!/usr/bin/env bash
# Vendored from the workplace's shared/docker/setup-docker.sh: CI clones the repository where
# ../shared may not exist. Refresh it from there rather than editing it here.
# setup-docker.sh - make `docker`, `docker compose` (v2) and `docker build FROM node:20-bookworm-slim`
# work on an offline Debian bookworm machine (this workplace's dev machines and CI: root, no
# container registry, only Debian's apt mirror and the npm registry can be reached).
#
# What it does (each step is skipped when already done, so a second run takes about a second):
#   1. apt-get installs docker.io, iptables, cgroupfs-mount, busybox-static when missing
#      ('apt-get update' runs only when a package has no install candidate or an install fails).
#   2. starts dockerd in the background (own session, log in $DOCKERD_LOG) unless the socket
#      answers, and waits at most $DOCKER_WAIT_S seconds for `docker info`.
#   3. installs the real Docker Compose v2 (and buildx) CLI plugins taken from Debian trixie's
#      docker-compose / docker-buildx .debs (static Go binaries that need only libc >= 2.34) into
#      /usr/local/lib/docker/cli-plugins. If that download fails it falls back to Debian bookworm's
#      docker-compose 1.29.2 behind a small `docker compose` plugin shim.
#   4. builds the offline stand-in for the Docker Hub image $NODE_BASE_IMAGE (default
#      node:20-bookworm-slim) from the host's node + npm + libs + busybox, laid out like the real
#      image (node/npm in /usr/local/bin, user node 1000:1000, docker-entrypoint.sh, CMD node).
#      An image with that tag that was NOT made by this script (a real pulled one) is left alone.
#
# Usage:  bash setup-docker.sh            set everything up (root needed only for what is missing)
#         bash setup-docker.sh --status   print what is there, change nothing
#         bash setup-docker.sh --restart  stop the running dockerd first (to apply daemon.json)
# Env:    NODE_BASE_IMAGE=node:20-bookworm-slim   tag of the stand-in base image
#         SETUP_DOCKER_SKIP_IMAGE=1               do not build the base image
#         SETUP_DOCKER_FORCE_IMAGE=1              rebuild the stand-in even if it is current
#         SETUP_DOCKER_NO_BUILDX=1                do not install the buildx plugin
#         SETUP_DOCKER_COMPOSE=v1shim             use docker-compose v1 + shim instead of real v2
#         DOCKER_WAIT_S=90                        max seconds to wait for dockerd
#         DOCKERD_LOG=/var/log/dockerd.log        where dockerd writes
#         SETUP_DOCKER_DAEMON_JSON=0              do not write /etc/docker/daemon.json
# /etc/docker/daemon.json (written only when absent; used from the next dockerd start):
#   dns 127.0.0.1 + dns-opts timeout:1 attempts:1 : a name Docker's embedded DNS does not know (a
#       stopped container's, say) is not forwarded to the machine's resolver, and fails in ~1 s
#   default-address-pools 172.20.0.0/14 in /24s   : 1024 user-defined networks instead of ~31
#   json-file logs capped at 2 x 10 MB per container
set -euo pipefail

NODE_BASE_IMAGE="${NODE_BASE_IMAGE:-node:20-bookworm-slim}"
DOCKER_WAIT_S="${DOCKER_WAIT_S:-90}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
CACHE_DIR=/var/cache/setup-docker
DEBIAN_V2_SUITE="${SETUP_DOCKER_V2_SUITE:-trixie}"

# The main Debian archive URI from the system's apt sources (deb822 or one-line form).
apt_mirror() {
  local uri
  uri="$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v -- '-security' | head -n1)"
  [ -n "$uri" ] || uri="$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | sed -E 's/\[[^]]*\] //' | awk '{print $2}' | grep -v -- '-security' | head -n1)"
  [ -n "$uri" ] && printf '%s\n' "$uri"
}
IMAGE_RECIPE=5          # bump when the stand-in image recipe below changes
STANDIN_MARK="setup-docker.sh offline stand-in:"

log() { printf '[setup-docker] %s\n' "$*" >&2; }
die() { printf '[setup-docker] ERROR: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
docker_ok() { timeout 10 docker info >/dev/null 2>&1; }
compose_v2_ok() { timeout 20 docker compose version 2>/dev/null | grep -Eq 'version v?2\.'; }

status() {
  echo "docker client : $(docker version --format '{{.Client.Version}}' 2>/dev/null || echo missing)"
  echo "docker engine : $(timeout 10 docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null || echo 'not answering')"
  echo "compose       : $(timeout 20 docker compose version 2>/dev/null || echo missing)"
  echo "buildx        : $(timeout 20 docker buildx version 2>/dev/null || echo missing)"
  echo "base image    : $NODE_BASE_IMAGE $(docker image inspect -f '{{.Id}} {{.Comment}}' "$NODE_BASE_IMAGE" 2>/dev/null || echo missing)"
}

RESTART=0
case "${1:-}" in
  --status) status; exit 0 ;;
  -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
  --restart) RESTART=1 ;;
  "") ;;
  *) die "unknown argument: $1 (try --help)" ;;
esac

if [ "$(uname -s)" != Linux ] || ! have apt-get; then
  # Docker Desktop / other distros: nothing to install here; the real images are pulled as usual.
  if docker_ok && compose_v2_ok; then log "not a Debian machine, Docker and compose v2 already work: nothing to do"; exit 0; fi
  die "this script sets Docker up on Debian (apt-get); install Docker Desktop or Docker Engine + compose v2 yourself"
fi

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif have sudo; then sudo "$@"; else die "need root for: $*"; fi
}

# ---------------------------------------------------------------------------------------- 1. packages
apt_updated=0
apt_update() { [ "$apt_updated" = 1 ] && return 0; log "apt-get update"; as_root apt-get update -q >/dev/null; apt_updated=1; }
apt_install() {
  local p
  for p in "$@"; do   # no candidate means the lists are missing or stale
    if ! apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]'; then apt_update; break; fi
  done
  log "apt-get install $*"
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null; then
    [ "$apt_updated" = 1 ] && die "apt-get install $* failed"
    apt_update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null \
      || die "apt-get install $* failed"
  fi
}

pkgs=()
have dockerd || pkgs+=(docker.io)
have iptables || pkgs+=(iptables)
have cgroupfs-mount || pkgs+=(cgroupfs-mount)
if [ "${SETUP_DOCKER_SKIP_IMAGE:-0}" != 1 ] && ! dpkg -s busybox-static >/dev/null 2>&1; then pkgs+=(busybox-static); fi
if [ ${#pkgs[@]} -gt 0 ]; then apt_install "${pkgs[@]}"; fi
have docker || die "no docker client after installing docker.io"

# ---------------------------------------------------------------------------------------- 2. dockerd
start_dockerd() {
  # cgroups: this VM mounts them at boot; mount them if a machine does not.
  if [ ! -e /sys/fs/cgroup/cgroup.controllers ] && [ ! -d /sys/fs/cgroup/memory ]; then
    log "mounting cgroups (cgroupfs-mount)"; as_root cgroupfs-mount || true
  fi
  local pid=""
  if [ -s /var/run/docker.pid ]; then pid="$(cat /var/run/docker.pid)"; fi
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]; then
    log "dockerd (pid $pid) is running but not answering yet; waiting"
  else
    as_root rm -f /var/run/docker.pid
    log "starting dockerd (log: $DOCKERD_LOG)"
    as_root mkdir -p "$(dirname "$DOCKERD_LOG")"
    # Own session, no inherited stdio or other fds: a CI runner waiting for its pipes to close must
    # not wait for dockerd.
    ( for fd in /proc/$BASHPID/fd/*; do fd="${fd##*/}"; [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"; done
      exec setsid dockerd </dev/null >>"$DOCKERD_LOG" 2>&1 ) &
    pid=$!
  fi
  local t0=$SECONDS
  until docker_ok; do
    if [ $((SECONDS - t0)) -ge "$DOCKER_WAIT_S" ]; then
      tail -n 30 "$DOCKERD_LOG" >&2 || true
      die "dockerd did not answer within ${DOCKER_WAIT_S}s (log above, full log in $DOCKERD_LOG)"
    fi
    if ! kill -0 "$pid" 2>/dev/null && ! [ -S /var/run/docker.sock ]; then
      tail -n 30 "$DOCKERD_LOG" >&2 || true
      die "dockerd exited (log above, full log in $DOCKERD_LOG)"
    fi
    sleep 0.5
  done
  log "dockerd answers after $((SECONDS - t0))s"
}
write_daemon_json() {
  [ "${SETUP_DOCKER_DAEMON_JSON:-1}" = 1 ] || return 0
  [ -e /etc/docker/daemon.json ] && return 0
  as_root mkdir -p /etc/docker
  as_root tee /etc/docker/daemon.json >/dev/null <<'JSON'
{
  "dns": ["127.0.0.1"],
  "dns-opts": ["timeout:1", "attempts:1"],
  "default-address-pools": [{ "base": "172.20.0.0/14", "size": 24 }],
  "log-driver": "json-file",
  "log-opts": { "max-size": "10m", "max-file": "2" }
}
JSON
  log "wrote /etc/docker/daemon.json"
  if [ "$RESTART" != 1 ] && docker_ok; then
    log "dockerd is already running: daemon.json applies from its next start (setup-docker.sh --restart)"
  fi
}
stop_dockerd() {
  local pid; pid="$(cat /var/run/docker.pid 2>/dev/null || true)"
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 0
  if [ -n "$(docker ps -q 2>/dev/null)" ]; then log "WARNING: stopping dockerd with running containers (they stop too)"; fi
  log "stopping dockerd (pid $pid)"
  as_root kill -TERM "$pid"
  local t0=$SECONDS
  while [ -e "/proc/$pid" ]; do
    [ $((SECONDS - t0)) -ge 60 ] && die "dockerd (pid $pid) did not stop within 60s"
    sleep 0.3
  done
}
write_daemon_json
if [ "$RESTART" = 1 ]; then stop_dockerd; fi
docker_ok || start_dockerd

# ---------------------------------------------------------------------------------------- 3. compose v2
# Debian bookworm has only compose v1; trixie's docker-compose is the real v2 (a Go binary needing
# only libc >= 2.34, bookworm has 2.36). Fetch the .deb with apt (private lists, the system's
# sources untouched) and put its binary where the docker CLI looks for plugins.
debian_plugin() {   # $1 = package (docker-compose | docker-buildx); prints the path of the binary
  local pkg=$1 arch deb aptdir
  arch="$(dpkg --print-architecture)"
  aptdir="$CACHE_DIR/apt-$DEBIAN_V2_SUITE"
  as_root mkdir -p "$aptdir/lists/partial" "$aptdir/archives/partial" "$CACHE_DIR/debs"
  deb="$(ls -t "$CACHE_DIR/debs/${pkg}_"*"_$arch.deb" 2>/dev/null | head -n1 || true)"
  if [ -z "$deb" ]; then
    local opts=(-o "Dir::Etc::sourcelist=$aptdir/sources.list" -o Dir::Etc::sourceparts=/nonexistent
                -o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache=$aptdir" -o APT::Sandbox::User=root)
    if [ ! -s "$aptdir/sources.list" ]; then
      # The same Debian mirror the system already uses, with the newer suite.
      local mirror
      mirror="$(apt_mirror)" || { log "no Debian mirror found in the apt sources"; return 1; }
      echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $DEBIAN_V2_SUITE main" \
        | as_root tee "$aptdir/sources.list" >/dev/null
    fi
    if ! ls "$aptdir/lists/"*_Packages* >/dev/null 2>&1; then
      log "apt-get update ($DEBIAN_V2_SUITE lists, private to $aptdir)"
      as_root apt-get "${opts[@]}" update -q >/dev/null || return 1
    fi
    log "apt-get download $pkg/$DEBIAN_V2_SUITE"
    ( cd "$CACHE_DIR/debs" && as_root apt-get "${opts[@]}" download -q "$pkg/$DEBIAN_V2_SUITE" >/dev/null ) || return 1
    deb="$(ls -t "$CACHE_DIR/debs/${pkg}_"*"_$arch.deb" 2>/dev/null | head -n1 || true)"
    [ -n "$deb" ] || return 1
  fi
  local x; x="$(mktemp -d)"
  dpkg-deb -x "$deb" "$x" || { rm -rf "$x"; return 1; }
  local bin="$x/usr/libexec/docker/cli-plugins/$pkg"
  [ -x "$bin" ] || { rm -rf "$x"; return 1; }
  echo "$bin"
}

install_plugin() {   # $1 = package; installs $PLUGIN_DIR/$1 from Debian
  local bin
  bin="$(debian_plugin "$1")" || return 1
  as_root mkdir -p "$PLUGIN_DIR"
  as_root install -m 0755 "$bin" "$PLUGIN_DIR/$1.new"
  as_root mv -f "$PLUGIN_DIR/$1.new" "$PLUGIN_DIR/$1"
  rm -rf "${bin%/usr/libexec/docker/cli-plugins/*}"
}

install_v1_shim() {
  have docker-compose || apt_install docker-compose
  log "installing the docker compose -> docker-compose v1 shim"
  as_root mkdir -p "$PLUGIN_DIR"
  as_root tee "$PLUGIN_DIR/docker-compose" >/dev/null <<'SHIM'
#!/usr/bin/python3
# setup-docker.sh v1 shim: `docker compose ...` (v2 syntax) -> Debian's docker-compose 1.29.2.
# Container names follow v2 (project-service-1); v2-only flags that v1 lacks are dropped or emulated.
import json, os, subprocess, sys, time
if len(sys.argv) > 1 and sys.argv[1] == "docker-cli-plugin-metadata":
    print(json.dumps({"SchemaVersion": "0.1.0", "Vendor": "setup-docker.sh",
                      "Version": "v1.29.2-shim", "ShortDescription": "Docker Compose (v1 behind a v2 shim)"}))
    sys.exit(0)
args = sys.argv[1:]
if args[:1] == ["compose"]:
    args = args[1:]
WITH_VALUE = {"-f", "--file", "-p", "--project-name", "--project-directory", "--env-file", "--profile",
              "--ansi", "--progress", "--parallel", "-H", "--host", "--context", "-c"}
DROP_GLOBAL = {"--progress": 1, "--parallel": 1, "--dry-run": 0}
glob, i = [], 0
while i < len(args) and args[i].startswith("-"):
    a = args[i]; name = a.split("=", 1)[0]
    n = 1 if (name in WITH_VALUE and "=" not in a) else 0
    if name not in DROP_GLOBAL:
        glob += args[i:i + 1 + n]
    i += 1 + n
cmd, rest = (args[i], args[i + 1:]) if i < len(args) else ("help", [])
if cmd == "version":
    if "--short" in rest: print("1.29.2")
    else: print("Docker Compose version v1.29.2 (docker-compose v1 behind the setup-docker.sh shim)")
    sys.exit(0)
wait, wait_timeout, out = False, 300, []
j = 0
while j < len(rest):
    a = rest[j]; name = a.split("=", 1)[0]
    if cmd == "up" and name == "--wait": wait = True
    elif cmd == "up" and name == "--wait-timeout":
        if "=" in a: wait_timeout = int(a.split("=", 1)[1])
        else: j += 1; wait_timeout = int(rest[j])
    elif name in ("--quiet-pull", "-y", "--yes"): pass
    elif name == "--pull": j += 0 if "=" in a else 1
    else: out.append(a)
    j += 1
if cmd == "up" and wait and "-d" not in out and "--detach" not in out:
    out.insert(0, "-d")
if cmd in ("exec", "run") and not sys.stdin.isatty() and "-T" not in out:
    out.insert(0, "-T")
code = """
import sys, compose.service as s, compose.container as c
from compose.utils import truncate_id
def build_container_name(project, service, number, slug=None):
    bits = [project.lstrip('-_'), service]
    bits += ['run', truncate_id(slug)] if slug else [str(number)]
    return '-'.join(bits)
s.build_container_name = build_container_name
def nwp(self):
    p = '{}-{}'.format(self.project, self.service)
    if self.name.startswith(p) or self.name.startswith(p.replace('-', '_')):
        return '{}-{}'.format(self.service, self.number if self.number is not None else self.slug)
    return self.name
c.Container.name_without_project = property(nwp)
from compose.cli.main import main
sys.argv[0] = 'docker-compose'
sys.exit(main())
"""
full = ["/usr/bin/python3", "-c", code] + glob + [cmd] + out
if os.environ.get("SETUP_DOCKER_SHIM_PLAIN_V1"):
    full = ["docker-compose"] + glob + [cmd] + out
rc = subprocess.call(full)
if rc != 0 or not (cmd == "up" and wait):
    sys.exit(rc)
deadline = time.time() + wait_timeout
base = (["/usr/bin/python3", "-c", code] if full[0] != "docker-compose" else ["docker-compose"]) + glob
while True:
    ids = subprocess.run(base + ["ps", "-q"], capture_output=True, text=True).stdout.split()
    states = [json.loads(subprocess.run(["docker", "inspect", "-f", "{{json .State}}", c],
                                        capture_output=True, text=True).stdout or "{}") for c in ids]
    bad = [s for s in states if not s.get("Running") or s.get("Health", {}).get("Status", "healthy") != "healthy"]
    if states and not bad: sys.exit(0)
    if any(s.get("Health", {}).get("Status") == "unhealthy" or (s and not s.get("Running")) for s in states):
        print("compose shim: a container is unhealthy or exited", file=sys.stderr); sys.exit(1)
    if time.time() > deadline:
        print("compose shim: --wait timed out", file=sys.stderr); sys.exit(1)
    time.sleep(1)
SHIM
  as_root chmod 0755 "$PLUGIN_DIR/docker-compose"
}

if [ "${SETUP_DOCKER_COMPOSE:-}" = v1shim ]; then
  grep -q 'setup-docker.sh v1 shim' "$PLUGIN_DIR/docker-compose" 2>/dev/null || install_v1_shim
elif ! compose_v2_ok; then
  if ! install_plugin docker-compose || ! compose_v2_ok; then
    log "could not install compose v2 from Debian $DEBIAN_V2_SUITE; falling back to v1 + shim"
    install_v1_shim
  fi
fi
if [ "${SETUP_DOCKER_NO_BUILDX:-0}" != 1 ] && ! timeout 20 docker buildx version >/dev/null 2>&1; then
  install_plugin docker-buildx || log "WARNING: buildx not installed; docker build uses the legacy builder"
fi

# ---------------------------------------------------------------------------------------- 4. base image
build_standin() {
  local node npmdir cpdir nodever npmver stamp have_label root
  node="$(readlink -f "$(command -v node)")" || die "no node on this machine to build $NODE_BASE_IMAGE from"
  npmdir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"   # .../node_modules/npm
  cpdir="$(dirname "$npmdir")/corepack"
  nodever="$("$node" --version)"; nodever="${nodever#v}"
  npmver="$("$node" -p "require('$npmdir/package.json').version")"
  stamp="recipe$IMAGE_RECIPE-node$nodever-npm$npmver"
  case "$NODE_BASE_IMAGE" in
    node:"${nodever%%.*}"*|*/*) ;;
    *) log "WARNING: host node is $nodever but the image is tagged $NODE_BASE_IMAGE";;
  esac
  if docker image inspect "$NODE_BASE_IMAGE" >/dev/null 2>&1; then
    # the stamp lives in the image's Comment (a label would be inherited by every image built FROM it)
    have_label="$(docker image inspect -f '{{.Comment}}' "$NODE_BASE_IMAGE")"
    case "$have_label" in
      "$STANDIN_MARK "*|"Imported from -") ;;   # ours, or another hand-made `docker import`: replace
      *) log "$NODE_BASE_IMAGE exists and is not a stand-in made here (a real pulled image?): keeping it"; return 0 ;;
    esac
    if [ "$have_label" = "$STANDIN_MARK $stamp" ] && [ "${SETUP_DOCKER_FORCE_IMAGE:-0}" != 1 ]; then return 0; fi
  fi
  [ -x /bin/busybox ] || die "/bin/busybox missing (apt-get install busybox-static)"
  log "building the offline stand-in $NODE_BASE_IMAGE (node $nodever, npm $npmver)"
  root="$(mktemp -d /tmp/standin-rootfs.XXXXXX)"
  # merged /usr like Debian bookworm
  mkdir -p "$root"/usr/{bin,sbin,lib,lib64,local/bin,local/lib/node_modules,local/etc} \
           "$root"/{etc/ssl/certs,tmp,var/tmp,root,home/node,run,proc,sys,dev}
  ln -s usr/bin "$root/bin"; ln -s usr/sbin "$root/sbin"; ln -s usr/lib "$root/lib"; ln -s usr/lib64 "$root/lib64"
  chmod 1777 "$root/tmp" "$root/var/tmp"; chmod 700 "$root/root"
  # node + the shared libraries it links (and glibc's NSS/resolver modules, loaded at run time)
  cp "$node" "$root/usr/local/bin/node"
  local lib libs libdir dst
  libs="$(ldd "$node" | awk '/=> \//{print $3} /^\t\//{print $1}')"
  libdir="$(dirname "$(echo "$libs" | grep '/libc\.so' | head -n1)")"     # e.g. /lib/x86_64-linux-gnu
  for lib in $libs "$libdir/libnss_files.so.2" "$libdir/libnss_dns.so.2" "$libdir/libresolv.so.2"; do
    [ -e "$lib" ] || continue
    case "$lib" in /usr/*) dst="$root$lib" ;; *) dst="$root/usr$lib" ;; esac   # merged /usr
    mkdir -p "$(dirname "$dst")"; cp -L "$lib" "$dst"
  done
  # npm, npx (and corepack) as in the official image
  cp -a "$npmdir" "$root/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  if [ -d "$cpdir" ]; then
    cp -a "$cpdir" "$root/usr/local/lib/node_modules/corepack"
    ln -s ../lib/node_modules/corepack/dist/corepack.js "$root/usr/local/bin/corepack"
  fi
  printf 'update-notifier=false\nfund=false\naudit=false\n' > "$root/usr/local/etc/npmrc"
  # a shell and the usual tools: busybox (static) applets wherever busybox installs them
  cp /bin/busybox "$root/usr/bin/busybox"
  local a
  for a in $(/bin/busybox --list-full); do
    a="${a#/}"
    case "$a" in bin/*) a="usr/$a";; sbin/*) a="usr/$a";; esac
    [ -e "$root/$a" ] || [ -L "$root/$a" ] || ln -s /usr/bin/busybox "$root/$a"
  done
  # a minimal /etc (docker bind-mounts hosts, hostname and resolv.conf)
  cat > "$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000::/home/node:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
  printf 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n' > "$root/etc/group"
  printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\n' > "$root/etc/nsswitch.conf"
  : > "$root/etc/hosts"; : > "$root/etc/resolv.conf"; echo localhost > "$root/etc/hostname"
  cp /etc/os-release "$root/etc/os-release" 2>/dev/null || true
  cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt" 2>/dev/null || true
  chown 1000:1000 "$root/home/node"
  cat > "$root/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e
# as in the official node image: run node when the first argument is an option or not a command
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
EOF
  chmod 755 "$root/usr/local/bin/docker-entrypoint.sh"
  local id
  id="$(tar --numeric-owner -C "$root" -c . | docker import -m "$STANDIN_MARK $stamp" \
      --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
      --change "ENV NODE_VERSION=$nodever" \
      --change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
      --change 'CMD ["node"]' \
      - "$NODE_BASE_IMAGE")" || { rm -rf "$root"; die "docker import failed"; }
  rm -rf "$root"
  docker run --rm "$NODE_BASE_IMAGE" node -e 'process.exit(0)' || die "the stand-in $NODE_BASE_IMAGE does not run node"
  log "built $NODE_BASE_IMAGE ($id)"
}
if [ "${SETUP_DOCKER_SKIP_IMAGE:-0}" != 1 ]; then build_standin; fi

log "ready: $(docker version --format 'engine {{.Server.Version}} API {{.Server.APIVersion}}' 2>/dev/null); $(docker compose version 2>/dev/null)"
