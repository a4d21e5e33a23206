"""The planted faults ("chaffs") of task 10, loaded from chaffs.yaml beside the rubric (issue 15).

After Brown's Examplar ("wheats and chaffs"): the student's container tests must pass on a correct
image and fail on each chaff, an image of the student's own API with one real fault planted. This
module only reads and validates the data (hidden chaffs in chaffs_hidden.yaml, a file the student
edition leaves out); grader.docker.planting builds the images and grader.rubric turns every chaff
into the check `10.catches-<id>`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

CHAFFS_PATH = Path(__file__).with_name("chaffs.yaml")
HIDDEN_CHAFFS_PATH = Path(__file__).with_name("chaffs_hidden.yaml")   # instructor only: not in the student edition
CHECK_PREFIX = "catches-"          # chaff `runs-as-root` is rubric check `10.catches-runs-as-root`
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
HOWS = ("derived", "dockerfile")   # FROM the student's image, or appended to the student's Dockerfile
# The probes that prove a fault is there (implemented in grader.docker.planting.CONFIRMS).
CONFIRMS = ("runs-as-root", "loopback-only", "no-healthcheck", "down", "predict-fails",
            "logs-not-on-stdout", "compiler", "exists")
PLACEHOLDERS = ("user", "workdir", "models", "command", "port")   # filled in from the student's image
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")   # files of a derived build context: no paths
VISIBILITIES = ("visible", "hidden")


class ChaffError(ValueError):
    """chaffs.yaml breaks its schema; the message names the chaff and the field."""


@dataclass(frozen=True)
class Chaff:
    """One planted fault: what it is, what catching it earns, how it is made and proved.

    `how` is "derived" (`instructions` follow `FROM <student image>`, `files` beside them) or
    "dockerfile" (`instructions` are appended to the student's Dockerfile.mlapp). `confirm` names a
    probe of CONFIRMS, optionally with an argument after a colon ("exists: {workdir}/.git").
    """

    id: str
    title: str
    points: float
    section: str
    hint: str
    how: str
    instructions: str
    confirm: str
    files: dict[str, str] = field(default_factory=dict)
    visibility: str = "visible"

    @property
    def confirm_name(self) -> str:
        return self.confirm.partition(":")[0].strip()

    @property
    def confirm_argument(self) -> str:
        return self.confirm.partition(":")[2].strip()

    def check_id(self, task_id: str) -> str:
        return f"{task_id}.{CHECK_PREFIX}{self.id}"


def _text(raw: dict, key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ChaffError(f"{where}: `{key}` must be a non-empty string")
    return value


def parse(data: dict) -> tuple[Chaff, ...]:
    """The chaffs of a parsed chaffs.yaml; ChaffError names the first problem."""
    if not isinstance(data, dict) or data.get("schema") != 1 or not isinstance(data.get("chaffs"), list):
        raise ChaffError("chaffs.yaml: expected `schema: 1` and a list `chaffs:`")
    chaffs, seen = [], set()
    for index, raw in enumerate(data["chaffs"]):
        where = f"chaffs.yaml chaff #{index + 1}"
        if not isinstance(raw, dict):
            raise ChaffError(f"{where}: expected a mapping")
        chaff_id = _text(raw, "id", where)
        where = f"chaffs.yaml chaff {chaff_id!r}"
        if not SLUG.match(chaff_id) or chaff_id in seen:
            raise ChaffError(f"{where}: the id must be a unique slug (lower case, digits, hyphens)")
        seen.add(chaff_id)
        hows = [h for h in HOWS if h in raw]
        if len(hows) != 1:
            raise ChaffError(f"{where}: give exactly one of {', '.join(HOWS)} (how the fault is made)")
        how = hows[0]
        instructions = _text(raw, how, where)
        files = raw.get("files") or {}
        if not isinstance(files, dict) or not all(isinstance(k, str) and FILE_NAME.match(k) and isinstance(v, str)
                                                  for k, v in files.items()):
            raise ChaffError(f"{where}: `files` maps plain file names (no paths) to their text")
        if files and how != "derived":
            raise ChaffError(f"{where}: `files` go into a derived image's build context only")
        try:
            points = float(raw.get("points"))
        except (TypeError, ValueError):
            raise ChaffError(f"{where}: `points` must be a number") from None
        if points <= 0:
            raise ChaffError(f"{where}: `points` must be positive")
        visibility = raw.get("visibility", "visible")
        if visibility not in VISIBILITIES:
            raise ChaffError(f"{where}: `visibility` must be one of {VISIBILITIES}")
        confirm = _text(raw, "confirm", where)
        chaff = Chaff(id=chaff_id, title=" ".join(_text(raw, "title", where).split()), points=points,
                      section=_text(raw, "section", where), hint=" ".join(_text(raw, "hint", where).split()),
                      how=how, instructions=instructions, confirm=confirm, files=dict(files),
                      visibility=visibility)
        if chaff.confirm_name not in CONFIRMS:
            raise ChaffError(f"{where}: `confirm` must start with one of {', '.join(CONFIRMS)}")
        unknown = set(re.findall(r"\{([a-z]+)\}", instructions + chaff.confirm_argument)) - set(PLACEHOLDERS)
        if unknown:
            raise ChaffError(f"{where}: unknown placeholder(s) {sorted(unknown)}")
        chaffs.append(chaff)
    return tuple(chaffs)


@lru_cache(maxsize=4)
def load(path: Path = CHAFFS_PATH) -> tuple[Chaff, ...]:
    """The chaffs in `path` (default: grader/chaffs.yaml), validated; ChaffError, OSError."""
    with open(path, encoding="utf-8") as fh:
        return parse(yaml.safe_load(fh))
