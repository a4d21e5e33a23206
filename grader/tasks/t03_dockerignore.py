"""Task 3: .dockerignore — planted clutter, excluded categories, build-context size, a clean image."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from docker.utils.build import exclude_paths, tar

from grader.docker.probes import probe_json
from grader.registry import check
from grader.results import fail, ok
from grader.workspace import MARKER

log = logging.getLogger(__name__)

# Build-context budget. The reference context (starter/, the deliverables, docs and scripts the
# reference .dockerignore keeps) measured 0.2 MB; the planted data/raw alone is 3.8 MB.
CONTEXT_BUDGET = 2_000_000

# What .dockerignore must exclude: category -> representative paths (all must be excluded).
CATEGORIES = {
    "version control (.git)": (".git/HEAD", ".git/objects/ab/cdef"),
    "virtual environments (.venv, venv)": (".venv/bin/python", "venv/bin/python"),
    "Python caches (**/__pycache__, **/*.pyc, .pytest_cache)": (
        "__pycache__/x.pyc", "starter/src/churn/__pycache__/app.cpython-311.pyc", ".pytest_cache/v/cache/nodeids"),
    "notebooks": ("notebooks/02-dockerfile-mlapp.ipynb",),
    "labs": ("labs/02-dockerfile-mlapp.md",),
    "tests": ("tests/conftest.py",),
    "raw data (data/raw)": ("data/raw/customers.csv",),
    "MLflow runs (mlruns)": ("mlruns/0/meta.yaml",),
    "logs": ("logs/previous-run.log",),
}
# What must stay in the context for the reference Dockerfiles to build.
NEEDED = ("starter/requirements.txt", "starter/src/churn/app.py", "starter/models/churn-model.joblib")


def ignore_patterns(workdir: Path) -> list[str]:
    """.dockerignore lines exactly as the Docker SDK reads them."""
    path = workdir / ".dockerignore"
    if not path.is_file():
        return []
    lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def kept_paths(patterns: list[str], paths) -> set[str]:
    """Which of `paths` a build context with these patterns would include (SDK semantics)."""
    with tempfile.TemporaryDirectory(prefix="mlops-grader-ignore-") as tmp:
        for rel in paths:
            target = Path(tmp) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
        included = exclude_paths(tmp, list(patterns), dockerfile="Dockerfile.mlapp")
    return {p for p in paths if p in included}


@check("3.ignore-patterns", phase="static")
def ignore_categories(ctx):
    patterns = ignore_patterns(ctx.workdir)
    every = [p for paths in CATEGORIES.values() for p in paths]
    kept = kept_paths(patterns, every + list(NEEDED))
    missing = {name: [p for p in paths if p in kept] for name, paths in CATEGORIES.items()}
    missing = {name: paths for name, paths in missing.items() if paths}
    expected = "every category excluded: " + ", ".join(CATEGORIES)
    if not patterns:
        return fail(".dockerignore has no patterns", expected=expected,
                    found=".dockerignore is missing or has only comments")
    if missing:
        found = "; ".join(f"{name}: `{paths[0]}` stays in the context" for name, paths in missing.items())
        if any(p.startswith("starter/") for paths in missing.values() for p in paths):
            found += " (a pattern without `**/` matches only at the top of the context)"
        done = len(CATEGORIES) - len(missing)
        return fail(f".dockerignore misses {len(missing)} of {len(CATEGORIES)} categories", expected=expected,
                    found=found, partial="categories", measure=done / len(CATEGORIES))
    lost = [p for p in NEEDED if p not in kept]
    note = f" (note: it also excludes {', '.join(lost)})" if lost else ""
    return ok(f"all {len(CATEGORIES)} categories are excluded{note}")


class _Counter:
    """A write-only file that only counts bytes: the context's size without storing it."""

    def __init__(self):
        self.size = 0

    def write(self, data) -> int:
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def seek(self, *_) -> int:
        return 0


def context_size(workdir: Path, dockerfile: str = "Dockerfile.mlapp") -> tuple[int, dict[str, int]]:
    """Bytes the SDK sends for `docker build` of this context, and the biggest top-level entries."""
    patterns = ignore_patterns(workdir)
    counter = _Counter()
    tar(str(workdir), exclude=list(patterns), dockerfile=(dockerfile, None), fileobj=counter)
    by_top: dict[str, int] = {}
    for rel in exclude_paths(str(workdir), list(patterns), dockerfile=dockerfile):
        path = workdir / rel
        if path.is_file() and not path.is_symlink():
            top = rel.split("/", 1)[0]
            by_top[top] = by_top.get(top, 0) + path.stat().st_size
    return counter.size, dict(sorted(by_top.items(), key=lambda kv: -kv[1])[:4])


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


@check("3.context-size", phase="static")
def context_small(ctx):
    size, biggest = context_size(ctx.workdir)
    top = ", ".join(f"{name} {_mb(n)}" for name, n in biggest.items())
    if size <= CONTEXT_BUDGET:
        return ok(f"the build context is {_mb(size)} (budget {_mb(CONTEXT_BUDGET)})")
    return fail(f"the build context is {_mb(size)}, over the budget of {_mb(CONTEXT_BUDGET)}",
                expected=f"at most {_mb(CONTEXT_BUDGET)} sent to the engine", found=f"{_mb(size)}; biggest: {top}")


SCAN = f"MARKER = {MARKER!r}\n" + r"""
import json, os
found = []
for top, dirs, files in os.walk("/", onerror=None):
    if top in ("/proc", "/sys", "/dev"):
        dirs[:] = []
        continue
    for d in list(dirs):
        if d == ".git":
            found.append([os.path.join(top, d), ".git"])
    for f in files:
        path = os.path.join(top, f)
        if f == MARKER:
            try:
                origin = open(path).read().strip().rsplit(" ", 1)[-1]
            except OSError:
                origin = "?"
            found.append([path, origin])
        elif f == "customers.csv" and top.endswith("/raw"):
            found.append([path, "data/raw/"])
print(json.dumps(sorted(found)))
"""


@check("3.image-clean", phase="inspect")
def image_clean(ctx, mlapp_image):
    image = mlapp_image
    found = probe_json(ctx, image.tag, SCAN)
    if not found:
        return ok("no planted marker (.git, venvs, caches, notebooks, tests, data/raw, mlruns, logs) in the image")
    origins = sorted({origin for _, origin in found})
    places = sorted({path.rsplit("/", 1)[0] if path.endswith(("/" + MARKER, "/customers.csv")) else path
                     for path, _ in found})
    paths = ", ".join(places[:15]) + (", ..." if len(places) > 15 else "")
    return fail(f"the image holds repository clutter from {len(origins)} place(s): {', '.join(origins)}",
                expected="only the API's code, model and dependencies in the image",
                found=f"found in the image: {paths}", details=json.dumps(found, indent=1))
