"""The check registry: maps rubric check ids to the functions that implement them."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

PHASES = ("static", "build", "up", "inspect", "late")
_CHECKS: dict[str, CheckFn] = {}


@dataclass(frozen=True)
class CheckFn:
    id: str
    func: Callable
    phase: str                   # when it runs; "late" checks may stop or restart things
    requires: tuple[str, ...]    # resources (see grader.resources) it needs; their failure fails it


def check(check_id: str, *, phase: str = "inspect", requires: tuple[str, ...] = ()):
    """Register `func(ctx) -> Outcome` as the implementation of rubric check `check_id`."""
    if phase not in PHASES:
        raise ValueError(f"{check_id}: phase must be one of {PHASES}")

    def register(func: Callable) -> Callable:
        if check_id in _CHECKS and _CHECKS[check_id].func is not func:
            raise ValueError(f"check {check_id} is registered twice")
        _CHECKS[check_id] = CheckFn(id=check_id, func=func, phase=phase, requires=tuple(requires))
        return func

    return register


def load_all() -> dict[str, CheckFn]:
    """Import every module in grader.tasks so their checks register; return the registry."""
    import grader.tasks as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")
    return dict(_CHECKS)


def get(check_id: str) -> CheckFn:
    load_all()
    try:
        return _CHECKS[check_id]
    except KeyError:
        raise KeyError(f"check {check_id!r} is in the rubric but no task module implements it") from None
