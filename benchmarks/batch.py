"""Batch figures: a class from the reference and the corpus, graded with --jobs 1 and --jobs 2.

Builds the class of tests/grader/batch/classroom.py (13 submissions + 4 entries that cannot be
graded), grades it with every task in instructor mode, once per --jobs value, each time into a
fresh output folder (so nothing is skipped), and prints per run: wall time, submissions per hour,
peak memory (RSS of the batch and its grading children, and the machine's used memory above the
start), disk used (the output folder, and the peak growth of the Docker data root), and leftovers
(Docker resources still labelled with one of the run ids: must be 0). Not a test: it only prints.

    python -m benchmarks.batch                      # the whole class, --jobs 1 then --jobs 2
    python -m benchmarks.batch --students 4 --jobs 2 # a measured subset

The machine is shared: memory and disk figures include whatever else runs at the same time.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import docker
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader.batch import records  # noqa: E402
from grader.constants import LABEL_RUN  # noqa: E402
from tests.grader.batch.classroom import make_class  # noqa: E402

MB = 1_000_000


class Sampler(threading.Thread):
    """Samples the RSS of a process tree, the machine's used memory and a disk's used bytes."""

    def __init__(self, pid: int, disk: str, interval: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.disk, self.interval = pid, disk, interval
        self.base_memory = psutil.virtual_memory().used
        self.base_disk = shutil.disk_usage(disk).used
        self.peak_rss = self.peak_memory = self.peak_disk = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                root = psutil.Process(self.pid)
                tree = [root, *root.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in tree if p.is_running())
            except psutil.Error:
                rss = 0
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_memory = max(self.peak_memory, psutil.virtual_memory().used - self.base_memory)
            self.peak_disk = max(self.peak_disk, shutil.disk_usage(self.disk).used - self.base_disk)
            self.stopped.wait(self.interval)


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def leftovers(client, run_ids) -> int:
    count = 0
    for run_id in run_ids:
        selector = {"label": f"{LABEL_RUN}={run_id}"}
        count += len(client.containers.list(all=True, filters=selector)) + len(client.networks.list(filters=selector))
        count += len(client.volumes.list(filters=selector)) + len(client.images.list(filters=selector))
    return count


def run_batch(klass: Path, out: Path, *, jobs: int, tasks, docker_root: str, client) -> dict:
    command = [sys.executable, "-m", "grader", "batch", str(klass), "--out", str(out), "--jobs", str(jobs),
               "--instructor", "--live", "no", *(a for t in tasks for a in ("--task", t))]
    log = out.with_suffix(".log")
    started = time.monotonic()
    with open(log, "w") as fh:
        proc = subprocess.Popen(command, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT)
        sampler = Sampler(proc.pid, docker_root)
        sampler.start()
        code = proc.wait()
    wall = time.monotonic() - started
    sampler.stopped.set()
    sampler.join()
    done = records.load_all(out)
    graded = [r for r in done if r.run_id and r.status in ("graded", "grader-error")]
    return {"jobs": jobs, "exit": code, "wall_s": wall, "graded": len(graded), "rows": len(done),
            "per_hour": len(graded) * 3600 / wall if wall else 0, "peak_rss": sampler.peak_rss,
            "peak_memory": sampler.peak_memory, "out_bytes": folder_size(out), "docker_disk": sampler.peak_disk,
            "leftovers": leftovers(client, {r.run_id for r in done if r.run_id}), "log": log,
            "scores": {r.student: (r.status, r.score, r.max_score) for r in done}}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, action="append", help="--jobs values to measure (default: 1 and 2)")
    parser.add_argument("--students", type=int, help="grade only the first N submissions of the class")
    parser.add_argument("--task", dest="tasks", action="append", default=[], help="only these tasks (default: all)")
    parser.add_argument("--keep", type=Path, help="keep the class and outputs in this folder")
    args = parser.parse_args(argv)
    client = docker.from_env()
    root = client.info().get("DockerRootDir", "/var/lib/docker")
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-batch-"))
    klass = work / "class"
    expected = make_class(klass, scratch=work / "build")
    shutil.rmtree(work / "build", ignore_errors=True)
    if args.students:
        keep = sorted(expected)[: args.students]
        for entry in klass.iterdir():
            if not any(entry.name == s or entry.name.startswith(s + ".") for s in keep):
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    entries = len(list(klass.iterdir()))
    print(f"class: {entries} entries in {klass}; tasks: {', '.join(args.tasks) or 'all'}; instructor mode")
    results = []
    for jobs in args.jobs or [1, 2]:
        out = work / f"out-jobs{jobs}"
        shutil.rmtree(out, ignore_errors=True)
        result = run_batch(klass, out, jobs=jobs, tasks=args.tasks, docker_root=root, client=client)
        results.append(result)
        print(f"--jobs {jobs}: {result['wall_s']:.0f} s wall, {result['graded']} graded of {result['rows']} rows "
              f"({result['per_hour']:.1f} submissions/hour), exit {result['exit']}; "
              f"peak RSS of batch + graders {result['peak_rss'] / MB:.0f} MB, "
              f"machine memory peak +{result['peak_memory'] / MB:.0f} MB; "
              f"output {result['out_bytes'] / MB:.1f} MB, Docker disk peak +{result['docker_disk'] / MB:.0f} MB; "
              f"leftovers {result['leftovers']} (log: {result['log']})", flush=True)
    if len(results) > 1:
        base = results[0]["wall_s"]
        for result in results[1:]:
            print(f"speed-up of --jobs {result['jobs']} over --jobs {results[0]['jobs']}: {base / result['wall_s']:.2f}x")
        same = all(r["scores"] == results[0]["scores"] for r in results[1:])
        print(f"same scores in every run: {same}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
