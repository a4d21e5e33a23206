"""The check registry: maps rubric check ids to the functions that implement them.

A check declares what it needs in its signature, as otter-grader's `call_func` does (issue 8,
step 5): a parameter named `ctx` receives the run's Context; every other parameter names a
resource (grader.resources) that is made before the check runs. A parameter with a default is
optional evidence: it receives None when its resource cannot be made, instead of the check
failing as "Not checked".

    @check("7.api-reaches-mlflow", phase="inspect")
    def api_reaches_mlflow(stack): ...
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

PHASES = ("static", "build", "up", "inspect", "late")
TASK_PACKAGE = "grader.tasks"
CONTEXT_PARAMETER = "ctx"
_CHECKS: dict[str, CheckFn] = {}


@dataclass(frozen=True)
class CheckFn:
    """One registered check: its rubric id, function, phase and the resources it takes."""

    id: str
    func: Callable
    phase: str                   # when it runs; "late" checks may stop or restart things
    requires: tuple[str, ...]    # resources it cannot run without; their failure fails it
    optional: tuple[str, ...]    # resources it uses when they can be made (None otherwise)
    takes_context: bool          # the function has a `ctx` parameter

    @property
    def resources(self) -> tuple[str, ...]:
        return self.requires + self.optional

    def call(self, ctx, resources: dict):
        """Call the check with the context (if it takes it) and its resources as keyword arguments."""
        kwargs = dict(resources)
        if self.takes_context:
            kwargs[CONTEXT_PARAMETER] = ctx
        return self.func(**kwargs)


def signature_resources(func: Callable) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(required, optional, takes ctx) from a check function's parameters (keyword-passable names)."""
    required, optional, takes_context = [], [], False
    for name, parameter in inspect.signature(func).parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD, parameter.POSITIONAL_ONLY):
            raise TypeError(f"{func.__qualname__}: check parameters must be plain names, not {parameter}")
        if name == CONTEXT_PARAMETER:
            takes_context = True
        elif parameter.default is inspect.Parameter.empty:
            required.append(name)
        else:
            optional.append(name)
    return tuple(required), tuple(optional), takes_context


def check(check_id: str, *, phase: str = "inspect"):
    """Register `func` as the implementation of rubric check `check_id`; it returns an Outcome.

    Raises ValueError for an unknown phase or an id registered twice, TypeError for a parameter
    that cannot be passed by name.
    """
    if phase not in PHASES:
        raise ValueError(f"{check_id}: phase must be one of {PHASES}")

    def register(func: Callable) -> Callable:
        if check_id in _CHECKS and _CHECKS[check_id].func is not func:
            raise ValueError(f"check {check_id} is registered twice")
        required, optional, takes_context = signature_resources(func)
        _CHECKS[check_id] = CheckFn(id=check_id, func=func, phase=phase, requires=required,
                                    optional=optional, takes_context=takes_context)
        return func

    return register


def load_all() -> dict[str, CheckFn]:
    """Import every module of grader.tasks so their checks register; return the registry."""
    package = importlib.import_module(TASK_PACKAGE)
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{TASK_PACKAGE}.{info.name}")
    return dict(_CHECKS)


def get(check_id: str) -> CheckFn:
    """The registered check `check_id`; KeyError when no task module implements it."""
    load_all()
    try:
        return _CHECKS[check_id]
    except KeyError:
        raise KeyError(f"check {check_id!r} is in the rubric but no task module implements it") from None
