#!/usr/bin/env bash
# One-command setup: venv, Docker engine, Compose v2, base images, headless Chromium (idempotent).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"
venv="${VENV:-.venv}"
t0=$SECONDS

bash "$here/venv.sh" "$venv"
bash "$here/engine.sh"
bash "$here/compose.sh" "$venv"
bash "$here/stand-ins.sh"
# Only the instructor edition has it (the stats-page browser test); the student edition leaves it out.
[ ! -f "$here/chromium.sh" ] || bash "$here/chromium.sh"
say "done in $((SECONDS - t0)) s. 'make help' lists what you can do."
# Students come here first (Codespaces runs this on creation): point them at Lab 1.
say "Next: Lab 1. Notebooks: 'make lab' and open notebooks/01-docker-basics.ipynb. Terminal: read labs/01-docker-basics.md and run 'source $venv/bin/activate' first."
