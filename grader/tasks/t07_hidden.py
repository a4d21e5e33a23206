"""Task 7, hidden: checks that run only in the instructor's grading (`python -m grader --instructor`).

Hidden checks live in `*_hidden.py` modules so that the student edition can leave them out as
files (`python -m grader release`, release/manifest.yaml); their rubric entries carry
`visibility: hidden` and are removed from the student edition's rubric.
"""

from __future__ import annotations

import logging
import time

from docker.errors import APIError

from grader.docker.tracking import short
from grader.errors import ResourceError
from grader.registry import check
from grader.results import fail, ok
from grader.tasks.common import sample_request

log = logging.getLogger(__name__)


@check("7.survives-outage", phase="late")
def survives_outage(ctx, stack):
    """7.survives-outage: POST /predict answers 200 before and twice after the MLflow container stops.

    Each call may take up to 10 s (the API must not hang on the tracking server); the second one
    comes 3 s after the first, past a typical client retry. Raises ResourceError when the MLflow
    container cannot be stopped (not the submission's fault). Runs in the `late` phase: it stops a
    service of the stack.
    """
    api = stack.service("mlapp")
    url = api.url("/predict")
    payload = sample_request(ctx.workdir)
    before = api.http(url, method="POST", payload=payload, timeout=10)
    if before.get("status") != 200:
        return fail("the API does not predict even while MLflow is up",
                    expected=f"POST {url} to answer 200", found=f"{before.get('status') or before.get('error')}: "
                                                                 f"{short(before.get('body'))}")
    try:
        stack.service("mlflow", serving=False).container.stop(timeout=10)
    except APIError as exc:
        raise ResourceError(f"could not stop the MLflow container: {exc.explanation or exc}") from None
    answers = []
    for pause in (0, 3):
        time.sleep(pause)
        started = time.monotonic()
        answer = api.http(url, method="POST", payload=payload, timeout=10)
        answers.append((answer, time.monotonic() - started))
        if answer.get("status") != 200:
            return fail("the API stopped predicting when MLflow went down",
                        expected=f"POST {url} to answer 200 within 10 s with MLflow stopped",
                        found=f"{answer.get('status') or answer.get('error')} after {answers[-1][1]:.1f} s: "
                              f"{short(answer.get('body'))}")
    slowest = max(seconds for _, seconds in answers)
    return ok(f"with `{stack.model.mlflow}` stopped, POST /predict still answered 200 (slowest {slowest:.1f} s)")
