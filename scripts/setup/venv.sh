#!/usr/bin/env bash
# Create the development virtual environment with the pinned dependency set (idempotent).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"
venv="${1:?usage: venv.sh VENV_DIR}"
req="${2:-requirements-dev.txt}"
python="${PYTHON:-python3}"

stamp="$venv/.requirements.sha256"
want=$(cat "$req" starter/requirements.txt | sha256sum | cut -d' ' -f1)
# Pins the venv does not hold (a package upgraded by hand, say): "name installed, pinned" lines.
drift() {
  "$venv/bin/python" - "$req" <<'PY'
import importlib.metadata as md, re, sys
for path in sys.argv[1:]:
    for line in open(path, encoding="utf-8"):
        m = re.match(r"\s*([A-Za-z0-9_.\-\[\]]+?)(\[[^\]]*\])?==([^\s;#]+)", line)
        if not m:
            continue
        try:
            have = md.version(m.group(1))
        except md.PackageNotFoundError:
            have = "missing"
        if have != m.group(3):
            print(f"{m.group(1)} {have}, pinned {m.group(3)}")
PY
}
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  differ=$(drift) || differ="the check of installed versions failed"
  if [ -z "$differ" ]; then
    say "virtual environment $venv is up to date"
    exit 0
  fi
  n=$(echo "$differ" | wc -l)
  more=""; [ "$n" -gt 3 ] && more="; and $((n - 3)) more"
  say "virtual environment $venv differs from the pins ($(echo "$differ" | head -3 | paste -sd ';' - | sed 's/;/; /g')$more): reinstalling them"
fi
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "Python >= 3.10 is needed ($python)"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
log="$STATE_DIR/pip.log"
say "installing pinned development dependencies into $venv (log: $log)"
"$venv/bin/python" -m pip install -q -r "$req" >"$log" 2>&1 || { tail -n 30 "$log" >&2; die "pip install failed; see $log"; }
echo "$want" > "$stamp"
