"""kill -9 of the grader in each phase: `python -m grader cleanup --run ID` then leaves nothing (issue 14).

The grader runs as a subprocess (`python -m grader ... --task 7`) on a small stack whose services
answer slowly, so that every phase lasts a few seconds; it is killed with SIGKILL as soon as its
progress output shows the phase under way (MARKERS). Its compose children die with it (PR_SET_PDEATHSIG), the engine
drops a build whose client is gone, and what was created carries the run's label.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from docker.errors import ImageNotFound

from grader.constants import CACHE_REPOSITORY
from grader.docker.build import created_images
from grader.options import default_timeout_scale
from tests.grader.dockerkit import BASE, make_submission, traces

pytestmark = [pytest.mark.docker, pytest.mark.slow]
PHASES = ("build", "up", "inspect", "late")
RUN = re.compile(r"run: run (?P<id>[0-9a-f]{6,32}) ")
SETTLE_S = 2        # what the engine was doing when the grader died finishes first
PHASE_TIMEOUT_S = 240

# Every request waits DELAY seconds, so inspect (MLflow calls) and late (POST /predict with MLflow
# stopped) last long enough to be killed in; /health answers at once for the healthchecks.
SERVER = """\
import http.server, sys, time
DELAY = float(sys.argv[2])
class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self):
        if self.path != "/health":
            time.sleep(DELAY)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")
    do_GET = do_POST = answer
http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Handler).serve_forever()
"""
HEALTH = ('HEALTHCHECK --interval=1s --timeout=3s --retries=30 CMD ["python", "-c", '
          '"import urllib.request; urllib.request.urlopen(\'http://127.0.0.1:5000/health\')"]')


def dockerfile(delay: int) -> str:
    # marker.txt differs in every session: the build really builds (steps of its own, not the cache)
    return (f"FROM {BASE}\nCOPY slow_server.py marker.txt /srv/\nRUN sleep 3\nUSER 10001\nEXPOSE 5000\n"
            f"{HEALTH}\nCMD [\"python\", \"/srv/slow_server.py\", \"5000\", \"{delay}\"]\n")


@pytest.fixture(scope="module")
def slow_submission(tmp_path_factory) -> Path:
    return make_submission(tmp_path_factory.mktemp("kill") / "submission", {
        "slow_server.py": SERVER, "marker.txt": uuid.uuid4().hex, "Dockerfile.mlapp": dockerfile(6),
        "Dockerfile.mlflow": dockerfile(4)})


# Where each phase shows in the progress output. Resources are made in the background from the
# build phase on (grader.context prefetch), so a phase is reached when its work is under way:
# build when the first image builds, up when the images are ready (`compose up` starts then),
# inspect when the stack is up (the inspect checks run on it), late at its own line.
MARKERS = {"build": ("build: Dockerfile.mlapp: building", 1.5), "up": ("stack_images ready", 1.0),
           "inspect": ("stack ready in", 0.0), "late": ("── late", 0.0)}


def announces(phase: str, line: str) -> bool:
    """The progress line at which to kill a grade in `phase`."""
    return MARKERS[phase][0] in line


def exists(client, image_id: str) -> bool:
    try:
        client.images.get(image_id)
        return True
    except ImageNotFound:
        return False


def cached_chains(client) -> set[str]:
    """Short ids of the images the build cache holds: its tags and every image below them."""
    images = {i["Id"]: i for i in client.api.images(all=True)}
    held = set()
    for image in images.values():
        if any(t.startswith(f"{CACHE_REPOSITORY}:") for t in image.get("RepoTags") or []):
            current = image
            while current is not None:
                held.add(current["Id"].removeprefix("sha256:")[:12])
                current = images.get(current.get("ParentId") or "")
    return held


def kill_in(phase: str, submission: Path, workroot: Path) -> tuple[str, list[str]]:
    """Start a grade, SIGKILL it when it announces `phase`; (run id, the output read until then)."""
    proc = subprocess.Popen([sys.executable, "-m", "grader", str(submission), "--task", "7", "--workroot",
                             str(workroot)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2], env={**os.environ, "COLUMNS": "200"})
    seen, run_id = [], None
    deadline = time.monotonic() + PHASE_TIMEOUT_S * default_timeout_scale()
    try:
        for line in proc.stderr:
            seen.append(line.rstrip())
            run_id = run_id or (m["id"] if (m := RUN.search(line)) else None)
            if announces(phase, line):
                time.sleep(MARKERS[phase][1])  # build: its first step done, `RUN sleep 3` under way
                proc.send_signal(signal.SIGKILL)
                break
            assert time.monotonic() < deadline and "── teardown" not in line, f"never reached {phase}: {seen}"
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL and run_id, seen
    return run_id, seen


@pytest.mark.parametrize("phase", PHASES)
def test_cleanup_after_kill_9_leaves_nothing_of_the_run(phase, slow_submission, tmp_path, docker_client):
    workroot = tmp_path / "work"
    workroot.mkdir()
    run_id, seen = kill_in(phase, slow_submission, workroot)
    time.sleep(SETTLE_S)
    left = traces(docker_client, run_id)
    made = [i for scratch in workroot.glob(f"mlops-grader-{run_id}-*") for i in created_images(scratch)]
    cleanup = subprocess.run([sys.executable, "-m", "grader", "cleanup", "--run", run_id, "--workroot", str(workroot)],
                             capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert cleanup.returncode == 0, cleanup.stderr
    assert traces(docker_client, run_id) == [], f"after a kill in {phase} ({left} were left), cleanup left some"
    assert not list(workroot.iterdir()), "the scratch copy is still there"
    cache = cached_chains(docker_client)
    for image_id in made:  # what the builds made is gone, unless it is kept as build cache
        assert image_id in cache or not exists(docker_client, image_id), f"image {image_id} left behind"
    if phase == "build":
        assert made, "the kill did not hit a build under way"
    if phase in ("inspect", "late"):  # the kill really hit a running stack
        assert any(t.startswith("container ") for t in left), left
