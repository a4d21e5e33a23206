"""External command-line tools the grader runs, found the same way by the doctor and the checks."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def find_hadolint() -> str | None:
    """hadolint on PATH, or next to this Python (a venv that is not activated)."""
    found = shutil.which("hadolint")
    if found:
        return found
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.is_file() else None
