"""Broken-submission overlays (tests/grader/corpus/*.yaml), shared by the corpus and batch tests.

Each overlay is a small edit of the reference submission that breaks one thing; see
tests/grader/corpus/README.md for the format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

CORPUS = Path(__file__).with_name("corpus")


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

    @classmethod
    def load(cls, path: Path) -> Overlay:
        raw = yaml.safe_load(path.read_text())
        return cls(name=path.stem, description=raw["description"], tasks=tuple(map(str, raw["tasks"])),
                   fails=frozenset(raw.get("fails", [])), messages=raw.get("messages", {}),
                   edits=tuple(raw.get("edits", [])), delete=tuple(raw.get("delete", [])),
                   write=raw.get("write", {}), append=raw.get("append", {}), scores=raw.get("scores", {}),
                   tag_images=raw.get("tag_images", {}),
                   instructor=raw.get("instructor", True))

    @classmethod
    def named(cls, name: str) -> Overlay:
        return cls.load(CORPUS / f"{name}.yaml")

    def apply(self, workdir: Path) -> None:
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
            (workdir / rel).write_text(content)
        for rel, content in self.append.items():
            target = workdir / rel
            target.write_text(target.read_text().rstrip("\n") + "\n" + content)


def all_paths() -> list[Path]:
    return sorted(CORPUS.glob("*.yaml"))
