"""Overlays: small YAML edits of the reference submission that name the checks they must fail.

Shared by the broken-submission corpus (tests/grader/corpus), the batch tests and the adversarial
corpus (tests/grader/adversarial); the format is documented in tests/grader/corpus/README.md.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from grader.options import Limits, Options, Timeouts

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).with_name("corpus")
OUTSIDE = "{outside}"   # in compose values and symlink targets: a directory outside the submission


def merge(base, extra):
    """`extra` laid over `base`: mappings merged key by key, anything else replaced."""
    if isinstance(base, dict) and isinstance(extra, dict):
        merged = dict(base)
        for key, value in extra.items():
            merged[key] = merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(extra)


def fill(value, outside: Path):
    """Replace {outside} in every string of a YAML value."""
    if isinstance(value, str):
        return value.replace(OUTSIDE, str(outside))
    if isinstance(value, list):
        return [fill(v, outside) for v in value]
    if isinstance(value, dict):
        return {fill(k, outside): fill(v, outside) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Overlay:
    name: str
    description: str
    tasks: tuple[str, ...]
    fails: frozenset[str]
    messages: dict = field(default_factory=dict)
    edits: tuple = ()
    delete: tuple = ()
    write: dict = field(default_factory=dict)
    append: dict = field(default_factory=dict)       # text added at the end of a file
    scores: dict = field(default_factory=dict)       # partial credit a careful human gives: {check: points}
    tag_images: dict = field(default_factory=dict)   # local tags the overlay's FROM lines use
    instructor: bool = True
    # adversarial overlays (tests/grader/adversarial)
    rule: str | None = None            # the policy.yaml rule it proves
    compose: dict = field(default_factory=dict)      # merged into docker-compose.yml
    symlinks: dict = field(default_factory=dict)     # path in the submission -> link target
    limits: dict = field(default_factory=dict)       # grader.options.Limits fields
    timeouts: dict = field(default_factory=dict)     # grader.options.Timeouts fields
    time_budget: float | None = None
    within: float | None = None        # seconds the whole grade must take at most
    builds: bool = True                # False: nothing may be built (refused before any build)
    warns: tuple = ()                  # substrings of the report's `warning:` lines

    @classmethod
    def load(cls, path: Path) -> Overlay:
        raw = yaml.safe_load(path.read_text())
        return cls(name=path.stem, description=raw["description"], tasks=tuple(map(str, raw["tasks"])),
                   fails=frozenset(raw.get("fails", [])), messages=raw.get("messages", {}),
                   edits=tuple(raw.get("edits", [])), delete=tuple(raw.get("delete", [])),
                   write=raw.get("write", {}), append=raw.get("append", {}), scores=raw.get("scores", {}),
                   tag_images=raw.get("tag_images", {}),
                   instructor=raw.get("instructor", True), rule=raw.get("rule"), compose=raw.get("compose", {}),
                   symlinks=raw.get("symlinks", {}), limits=raw.get("limits", {}), timeouts=raw.get("timeouts", {}),
                   time_budget=raw.get("time_budget"), within=raw.get("within"),
                   builds=raw.get("builds", True), warns=tuple(raw.get("warns", [])))

    @classmethod
    def named(cls, name: str) -> Overlay:
        """The broken-submission overlay tests/grader/corpus/NAME.yaml."""
        return cls.load(CORPUS / f"{name}.yaml")

    def apply(self, workdir: Path, *, outside: Path | None = None) -> None:
        """Edit the scratch copy `workdir`; `outside` is what {outside} stands for."""
        outside = outside or workdir.parent / "outside"
        for edit in self.edits:
            target = workdir / edit["file"]
            text = target.read_text()
            count = text.count(edit["find"])
            assert count == 1, (f"{self.name}: {edit['find']!r} occurs {count} times in {edit['file']}; "
                                "the reference changed — update the overlay")
            target.write_text(text.replace(edit["find"], edit["replace"]))
        for rel in self.delete:
            (workdir / rel).unlink()
        for rel, content in self.write.items():
            (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
            (workdir / rel).write_text(fill(content, outside))
        for rel, content in self.append.items():
            target = workdir / rel
            target.write_text(target.read_text().rstrip("\n") + "\n" + content)
        if self.compose:
            path = workdir / "docker-compose.yml"
            data = merge(yaml.safe_load(path.read_text()), fill(self.compose, outside))
            path.write_text(yaml.safe_dump(data, sort_keys=False))
        for rel, target in self.symlinks.items():
            link = workdir / rel
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.exists() or link.is_symlink():
                link.unlink()
            os.symlink(fill(target, outside), link)

    def options(self, workdir: Path, *, workroot: Path) -> Options:
        """The grading options the overlay asks for (instructor mode unless it says otherwise)."""
        return Options(submission=workdir, task_ids=self.tasks, instructor=self.instructor, workroot=workroot,
                       limits=Limits(**self.limits), timeouts=Timeouts(**self.timeouts),
                       time_budget=self.time_budget)


def all_paths() -> list[Path]:
    """The broken-submission corpus, in name order."""
    return sorted(CORPUS.glob("*.yaml"))


def make_outside(root: Path) -> Path:
    """A directory outside the submission, with the files adversarial overlays point at."""
    outside = root / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "plain.env").write_text("OUTSIDE_SECRET=do-not-grade-me\n")
    (outside / "labels").write_text("org.example.outside=1\n")
    (outside / "compose.yml").write_text("services:\n  intruder:\n    image: python:3.11-slim-bookworm\n")
    (outside / "base.yml").write_text("services:\n  base:\n    environment: {FROM_OUTSIDE: '1'}\n")
    (outside / "Dockerfile").write_text("FROM python:3.11-slim-bookworm\n")
    (outside / "secret.txt").write_text("do-not-grade-me\n")
    return outside
