"""Task 7: the integrated stack, probed from inside its own containers."""

from __future__ import annotations

import logging
import time

from docker.errors import APIError

from grader.docker.tracking import METRIC, explain_unreachable, find_run, mlflow_call, short
from grader.errors import ResourceError
from grader.registry import check
from grader.results import fail, ok
from grader.tasks.common import sample_request

log = logging.getLogger(__name__)


@check("7.stack-healthy", phase="up")
def stack_healthy(stack):
    states = {s: stack.state(stack.container(s)) for s in (stack.model.mlapp, stack.model.mlflow)}
    listed = ", ".join(f"`{s}` {st}" for s, st in states.items())
    return ok(f"the stack came up in {stack.up_seconds:.0f} s: {listed}")


@check("7.api-reaches-mlflow", phase="inspect")
def api_reaches_mlflow(stack):
    status, _, text = mlflow_call(stack, "experiments/search", {"max_results": 1})
    where = f"POST {stack.tracking_uri.rstrip('/')}/api/2.0/mlflow/experiments/search from `{stack.model.mlapp}`"
    if status == 200:
        return ok(f"{where} answered 200")
    return fail(explain_unreachable(stack.tracking_uri, status, text),
                expected=f"{where} to answer 200",
                found=f"{status or 'no answer'}: {short(text)}")


@check("7.logged-visible", phase="inspect")
def logged_visible(stack, mlflow_run):
    logged = mlflow_run
    found, seen = find_run(stack, logged)
    if found:
        return ok(f"logged {seen} in experiment {logged['experiment']} from `{stack.model.mlapp}`; runs/search finds it")
    return fail("the run logged through the stack is not found by runs/search",
                expected=f"run {logged['run_id']} with {METRIC}=0.42 in experiment {logged['experiment']}",
                found=seen)


@check("7.persists", phase="late")
def persists(ctx, stack, mlflow_run):
    logged = mlflow_run
    started = time.monotonic()
    try:
        stack.down(volumes=False)
        stack.up()
    except ResourceError as exc:
        return fail("the stack did not come back after `docker compose down` and `up`",
                    expected="both services healthy again, with MLflow's data", found=exc.message,
                    details=exc.details)
    seconds = time.monotonic() - started
    ctx.event("stack", f"down + up + healthy in {seconds:.1f} s")
    found, seen = find_run(stack, logged)
    if found:
        return ok(f"after `docker compose down` and `up` ({seconds:.0f} s) MLflow still has {seen}")
    return fail("MLflow lost its data in `docker compose down` and `up`",
                expected=f"run {logged['run_id']} in experiment {logged['experiment']} after down/up",
                found=seen)


@check("7.survives-outage", phase="late")
def survives_outage(ctx, stack):
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
