#!/usr/bin/env bash
# Make sure a Docker engine answers: use the running one, or (root on Debian) install and start one.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"

if engine_answers; then
  say "Docker engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
  exit 0
fi

fail_hint="Start Docker (Docker Desktop, 'sudo systemctl start docker', or a Codespace with docker-in-docker) and run 'make setup' again."
if ! is_root || ! have apt-get; then
  die "no Docker engine answers and this is not a root Debian machine, so setup cannot start one. $fail_hint"
fi

if ! have dockerd; then
  say "installing Debian's Docker engine (docker.io) and iptables"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >"$STATE_DIR/apt.log" 2>&1 || die "apt-get update failed; see $STATE_DIR/apt.log"
  apt-get install -y -qq docker.io iptables >>"$STATE_DIR/apt.log" 2>&1 \
    || die "installing docker.io failed; see $STATE_DIR/apt.log"
fi

log="$STATE_DIR/dockerd.log"
say "starting dockerd (log: $log)"
# setsid: the daemon must outlive this script and the make process that called it.
setsid nohup dockerd >"$log" 2>&1 < /dev/null &
for _ in $(seq 1 60); do
  if engine_answers; then
    say "Docker engine answers ($(docker version --format '{{.Server.Version}}'))"
    exit 0
  fi
  sleep 1
done
tail -n 20 "$log" >&2 || true
die "dockerd did not answer within 60 s; see $log"
