# Shared helpers for the setup scripts: logging and small predicates.
# shellcheck shell=bash
say()  { printf '[setup] %s\n' "$*"; }
warn() { printf '[setup] WARNING: %s\n' "$*" >&2; }
die()  { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
engine_answers() { timeout 10 docker info >/dev/null 2>&1; }
is_root() { [ "$(id -u)" -eq 0 ]; }
# Where setup keeps logs and scratch work; outside the repo so a clean clone stays clean.
STATE_DIR="${MLOPS_KIT_STATE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-kit}"
mkdir -p "$STATE_DIR"
