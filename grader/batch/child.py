"""One grading child of `python -m grader batch`: the ordinary CLI, which dies with its parent.

`python -m grader.batch.child ARGS` is `python -m grader ARGS`, except that on Linux it asks the
kernel (prctl PR_SET_PDEATHSIG) to send it SIGTERM when the batch process dies, even by `kill -9`.
The grader turns SIGTERM into its normal teardown, so a killed batch leaves no running grader
behind; whatever a child still could not remove carries its run id and is swept by the next batch
run (`python -m grader cleanup --run ID`). The batch passes its pid in MLOPS_GRADER_BATCH_PID; a
child whose parent already died before the request took effect exits at once with 130.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1   # <linux/prctl.h>
ENV_PARENT = "MLOPS_GRADER_BATCH_PID"


def die_with_parent() -> None:
    """SIGTERM this process when its parent dies (Linux); a no-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    expected = os.environ.get(ENV_PARENT)
    if expected and os.getppid() != int(expected):  # the batch died before prctl took effect
        raise SystemExit(130)


def main(argv: list[str] | None = None) -> int:
    """`python -m grader` with `argv` (default: sys.argv[1:]), dying with its parent; returns its exit code."""
    die_with_parent()
    from grader.cli import main as grader_main

    return grader_main(argv)


if __name__ == "__main__":
    sys.exit(main())
