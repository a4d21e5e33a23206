"""Helpers for the Docker tests of tasks 2, 3, 5 and 9: variant submissions, chosen checks, leftovers."""

from __future__ import annotations

import functools
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from grader import rubric
from grader.constants import LABEL_RUN
from grader.context import Context
from grader.docker.engine import list_images
from grader.options import Options, Timeouts
from grader.results import CheckResult
from grader.run import run_check
from grader.workspace import plant_markers, prepare

REPO = Path(__file__).resolve().parents[2]
BASE = "python:3.11-slim-bookworm"

# Broken Dockerfile.mlapp variants: small, built on the local base image, seconds to build.
LOOPBACK_ROOT = f"FROM {BASE}\nCMD python -m http.server --bind 127.0.0.1 5000\n"
EXITS = f'FROM {BASE}\nCMD ["python", "-c", "import sys; print(\'boom: no model file\'); sys.exit(3)"]\n'
# Code copied before the install, a fake compiler, EXPOSE of the wrong port, shell HEALTHCHECK,
# and (with .dockerignore removed) every planted marker in the image.
CLUTTER = (f"FROM {BASE} AS unused\nFROM {BASE}\nWORKDIR /app\nCOPY . /app\n"
           "RUN pip install --no-index --no-deps pip\nRUN ln -s /bin/true /usr/local/bin/gcc\n"
           'EXPOSE 8000\nHEALTHCHECK CMD python -c "print(1)"\nCMD ["python", "-m", "http.server", "5000"]\n')
VARIANTS = {
    "loopback-root": ({"Dockerfile.mlapp": LOOPBACK_ROOT},
                      ("2.exec-cmd", "2.api-answers", "2.binds-all", "2.expose", "2.non-root",
                       "2.healthcheck-exec", "2.healthy", "9.multi-stage", "9.hadolint")),
    "exits": ({"Dockerfile.mlapp": EXITS}, ("2.builds", "2.api-answers", "2.non-root")),
    "syntax": ({"Dockerfile.mlapp": f"FROM {BASE}\nRUNN pip install -r starter/requirements.txt\n"},
               ("2.builds", "2.base-pinned", "9.hadolint")),
    "clutter": ({"Dockerfile.mlapp": CLUTTER, ".dockerignore": None},
                ("2.deps-before-code", "2.binds-all", "2.expose", "2.healthcheck-exec", "3.ignore-patterns",
                 "3.context-size", "3.image-clean", "9.multi-stage", "9.no-compiler", "9.size-budget")),
}


@dataclass(frozen=True)
class Run:
    run_id: str
    results: dict[str, CheckResult]
    cleanup_problems: list[str]


def make_submission(dest: Path, files: dict[str, str | None]) -> Path:
    """The reference submission with `files` replaced (None deletes the file)."""
    prepare(submission=REPO, dest=dest, solution=True)
    for rel, text in files.items():
        path = dest / rel
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(text, encoding="utf-8")
    return dest


def make_context(scratch: Path, *, ready: float = 20, build: float = 900) -> Context:
    return Context(options=Options(submission=REPO, timeouts=Timeouts(ready=ready, build=build)),
                   run_id="t" + uuid.uuid4().hex[:9], workdir=scratch / "submission", scratch=scratch)


def run_checks(files: dict[str, str | None], ids, *, ready: float = 10) -> Run:
    """Run only the checks `ids` (real images, containers, probes) on a variant; always clean up."""
    scratch = Path(tempfile.mkdtemp(prefix="mlops-grader-test-"))
    ctx = make_context(scratch, ready=ready)
    spec = rubric.load()
    try:
        make_submission(ctx.workdir, files)
        plant_markers(ctx.workdir)
        results = {i: run_check(ctx, spec.check(i), rubric=spec) for i in ids}
    finally:
        problems = ctx.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return Run(run_id=ctx.run_id, results=results, cleanup_problems=problems)


@functools.cache
def variant_run(name: str) -> Run:
    files, ids = VARIANTS[name]
    return run_checks(files, ids)


def leftovers(client, run_id: str) -> list[str]:
    """Anything still labelled with the run: must be nothing after the run closed."""
    selector = {"label": f"{LABEL_RUN}={run_id}"}
    found = [f"container {c.name}" for c in client.containers.list(all=True, filters=selector, ignore_removed=True)]
    found += [f"image {i.tags or i.id}" for i in list_images(client, filters=selector)]
    found += [f"volume {v.name}" for v in client.volumes.list(filters=selector)]
    found += [f"network {n.name}" for n in client.networks.list(filters=selector)]
    return found


def traces(client, run_id: str) -> list[str]:
    """Anything of the run on the engine: labelled resources, and names carrying the run id
    (what `docker ps -a`, `docker network ls`, `docker volume ls` and `docker images` would show)."""
    found = leftovers(client, run_id)
    found += [f"container {c.name}" for c in client.containers.list(all=True, ignore_removed=True) if run_id in c.name]
    found += [f"network {n.name}" for n in client.networks.list() if run_id in n.name]
    found += [f"volume {v.name}" for v in client.volumes.list() if run_id in v.name]
    found += [f"image {t}" for i in list_images(client) for t in i.tags if run_id in t]
    return sorted(set(found))
