"""Which edition of the kit this grader belongs to: the instructor's repository or a student edition.

`python -m grader release` writes the student edition (grader.release) and marks it with the file
`grader/edition.yaml`; its presence is the marker. Without it, this is the instructor edition: it
has `solutions/` and the hidden checks, and `--solution` / `--instructor` work. In a student
edition those options say plainly that they belong to the instructor edition (exit 2), as
nbgrader's and otter-grader's student copies have no solutions to grade against.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

EDITION_FILE = Path(__file__).with_name("edition.yaml")
INSTRUCTOR, STUDENT = "instructor", "student"


@dataclass(frozen=True)
class Edition:
    """The edition a grader belongs to, with what the release recorded (student edition only).

    `released_from` is the source commit (`git describe`-like text, or "unknown"), `released_at`
    an ISO 8601 UTC time, `fail_below_full` the instructor's CI policy (`--fail-below-full`).
    """

    name: str = INSTRUCTOR
    released_from: str | None = None
    released_at: str | None = None
    fail_below_full: bool = False

    @property
    def student(self) -> bool:
        return self.name == STUDENT


def current(path: Path = EDITION_FILE) -> Edition:
    """The edition of the grader whose marker file is `path` (default: this package's).

    Never raises: a marker that cannot be read still marks a student edition (its presence is
    what counts); the details it should have carried are then None.
    """
    if not path.is_file():
        return Edition()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        log.warning("%s cannot be read (%s); treating this as a student edition", path, exc)
        data = None
    data = data if isinstance(data, dict) else {}
    return Edition(name=STUDENT, released_from=_text(data.get("released_from")),
                   released_at=_text(data.get("released_at")),
                   fail_below_full=data.get("fail_below_full") is True)


def _text(value) -> str | None:
    return None if value is None else str(value)


def instructor_only(feature: str, *, edition: Edition | None = None) -> str | None:
    """None in the instructor edition; in a student edition, the message saying `feature` is not here.

    `feature` names what was asked for, e.g. "`--solution`".
    """
    edition = current() if edition is None else edition
    if not edition.student:
        return None
    released = ""
    if edition.released_at or edition.released_from:
        released = f" (released {edition.released_at or '?'} from {edition.released_from or '?'})"
    return (f"{feature} belongs to the instructor edition of the kit. This is the student edition{released}: "
            "it has no reference solution and no hidden checks. Grade your own work with `python -m grader` "
            "(or `pytest grader`); your instructor grades with the instructor edition.")
