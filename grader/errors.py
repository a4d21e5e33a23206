"""The grader's exceptions, in a leaf module that imports nothing of the grader (as docker-py's
`docker/errors.py`), so every layer can raise and catch them without import cycles."""

from __future__ import annotations


class GraderError(Exception):
    """Base class of every exception the grader raises on purpose."""


class ResourceError(GraderError):
    """A resource (an image, a container, the stack, ...) could not be made or used.

    A check that needs the resource fails with "Not checked: <message>" and the hint of the check
    named by `blame` (the one whose fix makes the resource work); the check named by `blame`
    reports `message` as its own finding. `details` carries evidence such as the relevant lines of
    a build log; `expected` says what the resource needed.
    """

    def __init__(self, message: str, *, blame: str | None = None, details: str | None = None,
                 expected: str | None = None):
        super().__init__(message)
        self.message = message
        self.blame = blame
        self.details = details
        self.expected = expected


class Inconclusive(GraderError):
    """The grader could not reach a verdict on a check in this run (its own probe timed out, e.g. on an
    overloaded machine), so it gives neither the points nor a failure: the check scores 0 with status
    `error`, the message says why, and the hint asks for a regrade. Never raised for what a student's
    work causes (that is a failure)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class EngineUnavailable(ResourceError):
    """No Docker engine answers (the message carries the doctor's advice)."""


class WorkspaceError(GraderError):
    """The submission cannot be copied into a scratch workspace (not a submission, unreadable)."""


class ReleaseError(GraderError):
    """The student edition cannot be written: a bad destination or manifest, or reference content found in it.

    The message says what to change; nothing is left half-written at the destination.
    """
