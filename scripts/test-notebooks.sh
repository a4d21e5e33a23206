#!/usr/bin/env bash
# Run the workbook notebooks in order against the reference submission (nbval), time each one, and
# fail if any container, network, volume or image tag made by a notebook is left behind.
# Usage: bash scripts/test-notebooks.sh [notebooks/NN-name.ipynb ...]   (default: all, in order)
# Env: PYTHON (default .venv/bin/python), KEEP_WORKDIR=1 to keep the scratch submission.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
python="${PYTHON:-$repo/.venv/bin/python}"
[ -x "$python" ] || { echo "error: no Python at $python: run 'make setup' or set PYTHON" >&2; exit 2; }
# Absolute, without resolving the venv's symlink: the notebooks run in another directory.
python="$(cd "$(dirname "$python")" && pwd)/$(basename "$python")"
docker info > /dev/null 2>&1 || { echo "error: no Docker engine answers: run 'make setup'" >&2; exit 2; }

if [ $# -gt 0 ]; then notebooks=("$@"); else mapfile -t notebooks < <(ls notebooks/[0-9][0-9]-*.ipynb | sort); fi
[ ${#notebooks[@]} -gt 0 ] || { echo "error: no notebooks found" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/mlops-notebooks.XXXXXX")
finish() { [ "${KEEP_WORKDIR:-0}" = 1 ] && echo "kept $work" || rm -rf "$work"; }
trap finish EXIT

# The reference submission: the repository with solutions/ laid over it, plus the log directory
# the labs tell students to create (the API runs as uid 10001 and must be able to write to it).
"$python" -m grader workspace --solution --dest "$work/lab" > /dev/null
mkdir -p "$work/lab/logs" && chmod a+w "$work/lab/logs"

# What exists on the engine, one "kind name" per line (dangling images are build cache, not listed).
snapshot() {
  { docker ps --all --format 'container {{.Names}} {{.Label "com.docker.compose.project"}}'
    docker network ls --format 'network {{.Name}}'
    docker volume ls --format 'volume {{.Name}}'
    docker image ls --format 'image {{.Repository}}:{{.Tag}}'
    for n in 01 02 03 04 05 06 07 08 09 10; do   # images Compose built for a lab's project
      docker image ls --filter "label=com.docker.compose.project=lab$n" --format "image {{.Repository}}:{{.Tag}} lab$n"
    done
  } | grep -v '<none>' | sed 's/ *$//' | sort -u
}
# The names the labs give what they create: containers labNN-..., compose projects labNN (their
# networks and volumes labNN_...), the registry's tags localhost:5005/..., and the lab's image tags.
# Only these are ever removed here: other work may share this engine. In CI (nothing else runs)
# anything else that appears during a notebook is reported too.
lab_pattern='^(container lab[0-9]{2}-|(network|volume) lab[0-9]{2}[-_]|image (churn-api|mlflow-server|lab[0-9]{2}-[a-z0-9-]+):|image localhost:5005/|(container|image) .* lab[0-9]{2}$)'
report_pattern=$lab_pattern
# (make test runs pytest beside the notebooks: then NOTEBOOKS_SHARED_ENGINE=1 and only the labs'
# own names are reported, since the grader's tests make their own resources meanwhile.)
[ "${CI:-}" = true ] && [ -z "${NOTEBOOKS_SHARED_ENGINE:-}" ] && report_pattern='.'

remove_leftovers() {  # the safety net: remove what a failed notebook left, so the next one can run
  while read -r kind name _; do
    case $kind in
      container) docker rm -f -v "$name" ;;
      network) docker network rm "$name" ;;
      volume) docker volume rm -f "$name" ;;
      image) docker image rm --no-prune "$name" ;;
    esac > /dev/null 2>&1 || echo "  could not remove $kind $name"
  done
}

export LAB_ROOT="$work/lab"
export PATH="$(dirname "$python"):$PATH"   # `python` in the notebooks' shell cells is this venv's
passed=0 failed=0 total_start=$SECONDS
report=()
for nb in "${notebooks[@]}"; do
  name=$(basename "$nb")
  echo "=== $name"
  before=$(snapshot)
  start=$SECONDS
  result=passed
  "$python" -m pytest -p no:cacheprovider -o addopts= -q --nbval-lax --nbval-current-env \
      --nbval-sanitize-with notebooks/sanitize.cfg --nbval-cell-timeout 900 "$nb" || result=failed
  seconds=$((SECONDS - start))
  left=$(comm -13 <(echo "$before") <(snapshot) | grep -E "$report_pattern" || true)
  if [ -n "$left" ]; then
    echo "$name left these behind:"
    echo "$left" | sed 's/^/  /'
    echo "$left" | grep -E "$lab_pattern" | remove_leftovers || true
    result=failed
  fi
  echo "=== $name: $result in $seconds s"
  report+=("$(printf '%-32s %5d s  %s' "$name" "$seconds" "$result")")
  if [ $result = passed ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done

echo
printf '%s\n' "${report[@]}"
printf '%-32s %5d s\n' "total" $((SECONDS - total_start))
echo "notebooks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
