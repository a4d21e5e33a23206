#!/usr/bin/env bash
# Make sure headless Chromium is there for the class-report browser test (idempotent).
# Debian's package, never a browser download: `apt-get install chromium` on a root Debian machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"

if have chromium; then
  say "Chromium is installed ($(chromium --version 2>/dev/null | head -n 1))"
  exit 0
fi
if ! is_root || ! have apt-get; then
  warn "Chromium is missing and this is not a root Debian machine: install it ('sudo apt-get install chromium'); the stats-page browser test needs it"
  exit 0
fi
say "installing Debian's Chromium (for the stats-page browser test)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >"$STATE_DIR/apt-chromium.log" 2>&1 || die "apt-get update failed; see $STATE_DIR/apt-chromium.log"
apt-get install -y -qq chromium >>"$STATE_DIR/apt-chromium.log" 2>&1 \
  || die "installing chromium failed; see $STATE_DIR/apt-chromium.log"
say "Chromium installed ($(chromium --version 2>/dev/null | head -n 1))"
