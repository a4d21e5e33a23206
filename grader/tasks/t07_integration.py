"""Task 7: the integrated stack, probed from inside its own containers."""

from __future__ import annotations

import logging

from grader import wait
from grader.docker.tracking import (
    ARTIFACT,
    METRIC,
    METRIC_VALUE,
    PARAM,
    explain_unreachable,
    mlflow_call,
    read_back,
    short,
    ui_rejections,
)
from grader.errors import ResourceError
from grader.registry import check
from grader.results import fail, ok

log = logging.getLogger(__name__)

READ_BACK_S = 30  # seconds 7.persists keeps asking a recreated MLflow for the run it had


@check("7.stack-healthy", phase="late")
def stack_healthy(stack):
    """Judged last (before the late checks stop things): every service came up AND stayed up, and
    nothing the grader's sandbox hides (a clashing host port, a repeated container_name) would stop
    the student's own `docker compose up`."""
    expected = "both services up (healthy, or answering HTTP) for the whole grade, and `docker compose up` " \
               "working on your machine too"
    api, mlflow = stack.model.require("mlapp", "mlflow")
    if stack.faults:
        return fail("the grader's isolated run came up, but on your machine it would not",
                    expected=expected, found="; ".join(stack.faults))
    for role in ("mlapp", "mlflow"):
        stack.check_alive(role)  # raises: a service that died or restarted since it came up
    states = {s: stack.state(stack.container(s)) for s in (api, mlflow)}
    listed = ", ".join(f"`{s}` {st}" for s, st in states.items())
    return ok(f"the stack came up in {stack.up_seconds:.0f} s and stayed up: {listed}")


@check("7.api-reaches-mlflow", phase="inspect")
def api_reaches_mlflow(stack):
    status, _, text = mlflow_call(stack, "experiments/search", {"max_results": 1})
    where = f"POST {stack.tracking_uri.rstrip('/')}/api/2.0/mlflow/experiments/search from `{stack.model.mlapp}`"
    if status == 200:
        return ok(f"{where} answered 200")
    return fail(explain_unreachable(stack.tracking_uri, status, text),
                expected=f"{where} to answer 200",
                found=f"{status or 'no answer'}: {short(text)}")


def _lost_artifact(logged: dict) -> str:
    artifact = logged["artifact"]
    if artifact["how"] == "client-filesystem":
        fate = "was written" if artifact["error"] is None else f"could not even be written ({artifact['error']})"
        return (f"the run's artifact location is `{logged['artifact_uri']}`, a path, so MLflow clients write "
                f"artifacts themselves: the model {fate} to {artifact['where']}, not to the MLflow server. "
                "Serve artifacts: `--artifacts-destination <dir on the volume>` with `--serve-artifacts`, and no "
                "local `--default-artifact-root`")
    return f"the artifact upload to {artifact['where']} failed: {artifact['error']}"


@check("7.logged-visible", phase="inspect")
def logged_visible(stack, mlflow_run):
    logged = mlflow_run
    expected = (f"run {logged['run_id']} in experiment {logged['experiment']} with {PARAM}, {METRIC}={METRIC_VALUE} "
                f"and the artifact {ARTIFACT}, read back through MLflow, and the UI open at localhost")
    found, missing = read_back(stack, logged)
    if missing:
        artifact = logged["artifact"]
        lost = f"artifact {ARTIFACT}" in missing and (artifact["error"] or artifact["how"] != "served")
        problem = _lost_artifact(logged) if lost else f"MLflow does not show {', '.join(missing)}"
        return fail("the run logged through the stack is not all visible in MLflow", expected=expected,
                    found=f"{problem}; MLflow shows {', '.join(found) or 'nothing of it'}")
    rejected = ui_rejections(stack)
    if rejected:
        return fail("the MLflow UI cannot be opened from your browser: MLflow rejects its Host header",
                    expected=expected,
                    found=f"403 for Host {', '.join(rejected)}: add it to `--allowed-hosts` (e.g. "
                          f"`localhost:*`), since the allow-list replaces MLflow's defaults")
    ui = stack.published_ports("mlflow")
    where = f"; the UI answers at {', '.join(f'localhost:{p}' for p in ui)}" if ui else ""
    return ok(f"logged {', '.join(found)} from `{stack.model.mlapp}`; MLflow shows all of it{where}")


@check("7.persists", phase="late")
def persists(ctx, stack, mlflow_run):
    """Data survives the MLflow container being removed and created again, as `docker compose down`
    and `up` do to it (only what must be recreated is: issue 13)."""
    logged = mlflow_run
    before, _ = read_back(stack, logged)
    if not before:
        return fail("MLflow shows nothing of the run logged through the stack, so there is nothing to keep",
                    expected=f"run {logged['run_id']} visible before and after", found="no run to look for")
    try:
        seconds = stack.recreate("mlflow")
    except ResourceError as exc:
        return fail("MLflow did not come back after its container was removed and created again",
                    expected="the MLflow service up again, with its data", found=exc.message,
                    details=exc.details)
    ctx.event("stack", f"MLflow recreated and up in {seconds:.1f} s")
    # A server that just turned healthy may answer slowly at first: ask again, for a bounded while.
    after, unseen = wait.poll(lambda: read_back(stack, logged), timeout=READ_BACK_S, interval=2,
                              until=lambda seen: set(before) <= set(seen[0]))
    gone = [item for item in before if item not in after]
    if not gone:
        return ok(f"after its container was removed and created again ({seconds:.0f} s, as `docker compose down` "
                  f"and `up` do) MLflow still has {', '.join(after)}")
    return fail("MLflow lost data when its container was removed and created again (as `docker compose down` "
                "and `up` do)", expected=f"{', '.join(before)} still there",
                found=f"gone: {', '.join(gone)}" + (f" (MLflow: {unseen[0]})" if unseen and not after else ""))
