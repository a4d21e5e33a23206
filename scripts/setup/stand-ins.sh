#!/usr/bin/env bash
# Make sure the base images the labs use exist: pull them, or build local stand-ins (offline mode).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"

PYTHON_IMAGE="python:3.11-slim-bookworm"
HELLO_IMAGE="hello-world:latest"
REGISTRY_IMAGE="registry:2"
LABEL="org.mlops-kit.stand-in=true"

image_present() { docker image inspect "$1" >/dev/null 2>&1; }
try_pull() { timeout "${PULL_TIMEOUT:-60}" docker pull -q "$1" >/dev/null 2>&1; }

# The machine's own Debian mirror: the first deb URI in its apt sources, never a hard-coded host.
debian_mirror() {
  local uri
  uri=$(grep -hsE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
          | awk '{print $2}' | grep -v -- '-security' | grep -i debian | head -n1 || true)
  [ -n "$uri" ] || uri=$(grep -hsE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
          | awk '{print $2}' | grep -i debian | grep -v -- '-security' | head -n1 || true)
  [ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list*; cannot build base images offline"
  echo "$uri"
}

build_python_stand_in() {
  if ! have debootstrap; then
    is_root && have apt-get || die "debootstrap is needed to build $PYTHON_IMAGE offline (apt-get install debootstrap)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; } \
      >"$STATE_DIR/apt-debootstrap.log" 2>&1 || die "installing debootstrap failed; see $STATE_DIR/apt-debootstrap.log"
  fi
  local root="$STATE_DIR/rootfs-python" mirror log="$STATE_DIR/debootstrap.log"
  mirror=$(debian_mirror)
  rm -rf "$root"; mkdir -p "$root"
  say "debootstrap bookworm from $mirror (log: $log)"
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$root" "$mirror" >"$log" 2>&1 || die "debootstrap failed; see $log"
  # Act like the official image: python/pip on PATH, pip allowed to install, the proxy CA trusted.
  ln -sf /usr/bin/python3 "$root/usr/local/bin/python"
  ln -sf /usr/bin/pip3 "$root/usr/local/bin/pip"
  ln -sf /usr/bin/python3 "$root/usr/local/bin/python3"
  rm -f "$root"/usr/lib/python3*/EXTERNALLY-MANAGED
  [ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  # apt must still work inside containers (plain HTTP to the same mirror).
  echo "deb $mirror bookworm main" > "$root/etc/apt/sources.list"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
  find "$root/usr/lib" -name '__pycache__' -type d -prune -exec rm -rf {} + 2>/dev/null || true
  tar -C "$root" -c . | docker import \
      -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      -c 'ENV LANG=C.UTF-8' -c 'ENV PYTHON_VERSION=3.11' \
      -c "LABEL $LABEL" -c 'CMD ["python3"]' - "$PYTHON_IMAGE" >/dev/null
  rm -rf "$root"
}

build_hello_stand_in() {
  local dir="$STATE_DIR/hello"; mkdir -p "$dir"
  cat > "$dir/hello.c" <<'C'
#include <unistd.h>
static const char msg[] =
"\nHello from Docker!\n"
"This message shows that your installation appears to be working correctly.\n\n"
"(This is the mlops-kit offline stand-in for the official hello-world image.)\n\n"
"To generate this message, Docker took the following steps:\n"
" 1. The Docker client contacted the Docker daemon.\n"
" 2. The Docker daemon found the \"hello-world\" image (built locally, since no registry answered).\n"
" 3. The Docker daemon created a new container from that image which runs the\n"
"    executable that produces the output you are currently reading.\n"
" 4. The Docker daemon streamed that output to the Docker client, which sent it\n"
"    to your terminal.\n\n";
int main(void) { return write(1, msg, sizeof msg - 1) == (long)(sizeof msg - 1) ? 0 : 1; }
C
  have gcc || die "gcc is needed to build the hello-world stand-in"
  gcc -static -Os -s -o "$dir/hello" "$dir/hello.c"
  printf 'FROM scratch\nCOPY hello /\nLABEL %s\nCMD ["/hello"]\n' "$LABEL" > "$dir/Dockerfile"
  docker build -q -t "$HELLO_IMAGE" "$dir" >"$STATE_DIR/hello-build.log" 2>&1 \
    || die "building the hello-world stand-in failed; see $STATE_DIR/hello-build.log"
}

build_registry_stand_in() {
  # Debian's docker-registry (distribution 2.8) on the python stand-in, configured like registry:2.
  local dir="$STATE_DIR/registry"; mkdir -p "$dir"
  cat > "$dir/config.yml" <<'YML'
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
YML
  cat > "$dir/Dockerfile" <<DF
FROM $PYTHON_IMAGE
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends docker-registry \\
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
COPY config.yml /etc/docker/registry/config.yml
VOLUME /var/lib/registry
EXPOSE 5000
LABEL $LABEL
ENTRYPOINT ["/usr/bin/docker-registry"]
CMD ["serve", "/etc/docker/registry/config.yml"]
DF
  docker build -q -t "$REGISTRY_IMAGE" "$dir" >"$STATE_DIR/registry-build.log" 2>&1 \
    || die "building the registry stand-in failed; see $STATE_DIR/registry-build.log"
}

ensure() {
  local image="$1" builder="$2"
  if image_present "$image"; then say "image $image present"; return; fi
  if try_pull "$image"; then say "pulled $image"; return; fi
  local t0=$SECONDS
  "$builder"
  say "offline mode: built local stand-in for $image ($((SECONDS - t0)) s)"
}

engine_answers || die "no Docker engine answers; run 'make setup' (engine step) first"
ensure "$PYTHON_IMAGE" build_python_stand_in
ensure "$HELLO_IMAGE" build_hello_stand_in
ensure "$REGISTRY_IMAGE" build_registry_stand_in
