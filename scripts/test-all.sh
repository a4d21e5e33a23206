#!/usr/bin/env bash
# `make test`: the whole suite, every test run, in two lanes side by side on one engine (issue 13).
#
#   lane A  pytest: every test except the terminal walk, on TEST_JOBS xdist workers (default 2:
#           more only overloads 2 cores beside lane B). Tests that share one expensive fixture (one
#           graded reference, one reference stack, a module's fixtures) stay on one worker
#           (tests/conftest.py xdist_group), so nothing is made twice.
#   lane B  the notebooks (scripts/test-notebooks.sh), then the terminal walk (tests/walk/
#           test_terminal.py). Both publish the labs' host ports (5000, 5001, 5005), so they run one
#           after the other; the grader and lane A's tests (tests/walk's others included: they grade
#           through the grader's API) publish no fixed host port, so the lanes never collide.
#
# Both lanes always run to the end; either failing fails. Lane B's output goes to
# $TEST_LOGDIR/lane-b.log (default test-results/) and is printed after lane A's, then both times.
# TEST_LANES=serial runs the same commands one after the other (for a machine with nothing to spare).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

py=${PYTHON:-.venv/bin/python}
jobs=${TEST_JOBS:-2}
logdir=${TEST_LOGDIR:-test-results}
walk=tests/walk/test_terminal.py   # the terminal walk: lane B runs it after the notebooks
read -r -a opts <<< "${PYTEST_OPTS:-}"
# the lanes share 2 cores: every grader timeout twice as long (grader/options.py default_timeout_scale)
export GRADER_TIMEOUT_SCALE=${GRADER_TIMEOUT_SCALE:-2}
mkdir -p "$logdir"

lane_a() {
  "$py" -m pytest -n "$jobs" --dist loadgroup --durations=25 --ignore="$walk" "${opts[@]}"
}

lane_b() {
  local status=0
  # the engine is shared with lane A: only the labs' own leftovers fail a notebook
  PYTHON="$py" NOTEBOOKS_SHARED_ENGINE=1 bash scripts/test-notebooks.sh || status=1
  echo "=== $walk"
  "$py" -m pytest "${opts[@]}" "$walk" || status=1
  return $status
}

start=$SECONDS
if [ "${TEST_LANES:-parallel}" = serial ]; then
  lane_a; a=$?; a_s=$((SECONDS - start))
  lane_b 2>&1 | tee "$logdir/lane-b.log"; b=${PIPESTATUS[0]}; b_s=$((SECONDS - start - a_s))
else
  echo "lane B (notebooks, then the terminal walk) runs alongside; its output: $logdir/lane-b.log"
  ( s=$SECONDS; lane_b; rc=$?; echo "lane B seconds: $((SECONDS - s))"; exit $rc ) > "$logdir/lane-b.log" 2>&1 &
  lane_b_pid=$!
  lane_a; a=$?; a_s=$((SECONDS - start))
  wait "$lane_b_pid"; b=$?
  b_s=$(sed -n 's/^lane B seconds: //p' "$logdir/lane-b.log" | tail -1)
  echo
  echo "=================================== lane B: notebooks, then the terminal walk ==============================="
  cat "$logdir/lane-b.log"
fi

verdict() { [ "$1" -eq 0 ] && echo passed || echo FAILED; }
echo
printf 'lane A  pytest -n %s (all but the walk)      %5s s  %s\n' "$jobs" "$a_s" "$(verdict "$a")"
printf 'lane B  notebooks, then the terminal walk   %5s s  %s\n' "${b_s:-?}" "$(verdict "$b")"
printf 'make test                                   %5s s\n' $((SECONDS - start))
[ "$a" -eq 0 ] && [ "$b" -eq 0 ]
