"""Past one machine: a deterministic share of the class per shard, and merging shard outputs.

`--shard I/N` (1 <= I <= N) keeps the students whose id hashes to I: sha256(id) mod N == I - 1.
The share of a student depends only on its id and N, never on who else is in the class, so a late
submission does not move anyone else to another shard (and their finished grades stay valid).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from grader.batch import records

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `count`; `student in shard` says whether it grades that student."""

    index: int   # 1-based
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def __contains__(self, student: str) -> bool:
        return shard_of(student, self.count) == self.index


def parse(text: str) -> Shard:
    """"2/4" -> Shard(2, 4). ValueError with a usage message for anything else."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected I/N, e.g. 2/4 (the second of four shards)") from None
    if not 1 <= index <= count:
        raise ValueError(f"--shard {text!r}: I must be between 1 and N")
    return Shard(index, count)


def shard_of(student: str, count: int) -> int:
    """The 1-based shard of `student` among `count` shards."""
    return int.from_bytes(hashlib.sha256(student.encode("utf-8")).digest()[:8], "big") % count + 1


class MergeError(Exception):
    """Shards that cannot be merged (different options, not a batch output); message says which."""


@dataclass
class MergeResult:
    """What `merge` did: how many students the merged folder has, and who was in several shards."""

    students: int = 0
    conflicts: list[str] = field(default_factory=list)   # students in more than one shard (newest kept)


def _batch_options(directory: Path) -> dict:
    try:
        return json.loads((directory / "batch.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MergeError(f"{directory} is not the output of `python -m grader batch` (no batch.json)") from None
    except ValueError as exc:
        raise MergeError(f"{directory}/batch.json is unreadable: {exc}") from None


def merge(directories: list[Path], out: Path) -> MergeResult:
    """Copy every student of the shard `directories` into `out` and write its batch.json.

    A student found in several shards keeps the most recently finished record (listed in
    `conflicts`). Raises MergeError when the shards were graded with different options (tasks,
    instructor mode, grader version, rubric), since their scores would not be comparable.
    Gradebook files are not written here (see grader.batch.cli).
    """
    options = [(d, _batch_options(d)) for d in directories]
    hashes = {o.get("options_hash") for _, o in options}
    if len(hashes) > 1:
        listing = "; ".join(f"{d}: {o.get('options', {})}" for d, o in options)
        raise MergeError(f"the shards were graded with different options, so their scores differ: {listing}")
    chosen: dict[str, tuple[records.Record, Path]] = {}
    result = MergeResult()
    for directory, _ in options:
        for record in records.load_all(directory):
            if record.student in chosen:
                result.conflicts.append(record.student)
                if (record.finished_at or "") <= (chosen[record.student][0].finished_at or ""):
                    continue
            chosen[record.student] = (record, directory)
    (out / "students").mkdir(parents=True, exist_ok=True)
    for student, (_, directory) in sorted(chosen.items()):
        source, target = records.student_dir(directory, student), records.student_dir(out, student)
        if source.resolve() == target.resolve():
            continue
        tmp = target.with_name(f".{student}.merge-tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp, symlinks=True)
        if target.exists():
            old = target.with_name(f".{student}.merge-old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    first = dict(options[0][1]) if options else {}
    first["shards"] = [{"directory": str(d), "shard": o.get("shard")} for d, o in options]
    first.pop("shard", None)
    records.write_json(out / "batch.json", first)
    result.students = len(chosen)
    return result
