"""Reference images and stack: sizes, cold and warm build times, compose up to both healthy."""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import docker
import yaml

from grader.workspace import prepare

REPO = Path(__file__).resolve().parents[1]
BASE = "python:3.11-slim-bookworm"
MB = 1_000_000


def timed_build(client, workdir: Path, dockerfile: str, tag: str, *, nocache: bool) -> tuple[float, object]:
    started = time.monotonic()
    image, _ = client.images.build(path=str(workdir), dockerfile=dockerfile, tag=tag, rm=True,
                                   forcerm=True, nocache=nocache, labels={"org.mlops-kit.bench": "1"})
    return time.monotonic() - started, image


def up_to_healthy(workdir: Path, tags: dict[str, str], project: str) -> float:
    override = workdir.parent / "bench-override.yml"
    override.write_text(yaml.safe_dump({"services": {
        "mlapp": {"image": tags["mlapp"], "ports": ["127.0.0.1::5000"]},
        "mlflow": {"image": tags["mlflow"], "ports": ["127.0.0.1::5000"]},
    }}).replace("ports:\n", "ports: !override\n"))
    (workdir / "logs").mkdir(mode=0o777, exist_ok=True)
    base = ["docker", "compose", "-p", project, "--project-directory", str(workdir),
            "-f", str(workdir / "docker-compose.yml"), "-f", str(override)]
    started = time.monotonic()
    try:
        subprocess.run(base + ["up", "-d", "--no-build", "--wait", "--wait-timeout", "600"],
                       check=True, capture_output=True, text=True)
        return time.monotonic() - started
    finally:
        subprocess.run(base + ["down", "-v", "--timeout", "10"], capture_output=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-cold", action="store_true", help="only warm builds (fast)")
    args = parser.parse_args(argv)
    client = docker.from_env(timeout=1800)
    run = uuid.uuid4().hex[:8]
    base_size = client.images.get(BASE).attrs["Size"]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = prepare(submission=REPO, dest=Path(tmp) / "ref", solution=True)
        tags, rows = {}, []
        try:
            for role in ("mlapp", "mlflow"):
                tag = tags[role] = f"mlops-kit-bench-{run}/{role}:bench"
                cold = None
                if not args.skip_cold:
                    cold, _ = timed_build(client, workdir, f"Dockerfile.{role}", tag, nocache=True)
                warm, image = timed_build(client, workdir, f"Dockerfile.{role}", tag, nocache=False)
                size = image.attrs["Size"]
                rows.append((role, size, size - base_size, cold, warm))
            healthy = up_to_healthy(workdir, tags, f"mlops-kit-bench-{run}")
        finally:
            for tag in tags.values():
                try:
                    client.images.remove(tag, force=True)
                except docker.errors.ImageNotFound:
                    pass
    print(f"base image {BASE}: {base_size / MB:.0f} MB")
    print(f"{'image':8} {'total MB':>9} {'added MB':>9} {'cold build s':>13} {'warm build s':>13}")
    for role, size, added, cold, warm in rows:
        cold_text = f"{cold:13.1f}" if cold is not None else f"{'-':>13}"
        print(f"{role:8} {size / MB:9.0f} {added / MB:9.0f} {cold_text} {warm:13.2f}")
    print(f"docker compose up -> both services healthy: {healthy:.1f} s")


if __name__ == "__main__":
    main()
