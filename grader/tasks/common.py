"""Helpers several task modules share (task modules never import each other: issue 8, step 3)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import testinfra

from grader.chaffs import Chaff
from grader.docker.service import ALL_INTERFACES, has_healthcheck, healthcheck_budget, serving_port
from grader.errors import Inconclusive, ResourceError
from grader.parse.dockerfiles import DockerfileModel
from grader.results import Outcome, fail, ok, plain_text

log = logging.getLogger(__name__)

# The API's request when the submission has no starter/sample_request.json (the starter's own sample).
SAMPLE = {"tenure_months": 5, "monthly_charges": 89.9, "contract": "month-to-month",
          "internet_service": "fiber_optic", "payment_method": "electronic_check", "support_calls": 3,
          "paperless_billing": True, "senior_citizen": False}

def built(image, dockerfile: str):
    """2.builds / 5.builds: what was built (a failed build is reported by the image's provider)."""
    mb = image.size / 1e6
    return ok(f"{dockerfile} built in {image.seconds:.1f} s ({len(image.steps)} steps, image {mb:.0f} MB)")

def base_pinned(model: DockerfileModel):
    """(pinned refs, offending descriptions) over every FROM that names an external image."""
    good, bad = [], []
    for stage, ref in model.external_bases():
        where = f"line {stage.from_line.line}: `{stage.from_line.text}`"
        if ref.pinned:
            good.append(ref.raw)
        elif not ref.tag:
            bad.append(f"{where} has no tag (means `latest`)")
        elif "$" in ref.tag:
            bad.append(f"{where}: the tag `{ref.tag}` is an ARG without a default")
        else:
            bad.append(f"{where} uses `latest`")
    return good, bad

def sample_request(workdir: Path) -> dict:
    """The submission's starter/sample_request.json (the record every check that predicts sends)."""
    path = workdir / "starter" / "sample_request.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, (dict, list)) else SAMPLE
    except (OSError, ValueError):
        return SAMPLE

def binds_all(service, *, timeout: float):
    """2.binds-all / 5.binds-all: the port it serves on is bound on all interfaces (waits `timeout` s)."""
    listening = service.wait_listening(timeout=timeout)
    port = serving_port(listening, service.preferred_ports)
    if port is None:
        return fail("the server listens on no TCP port", expected="a server listening on 0.0.0.0:<port>",
                    found=f"no listening TCP socket within {timeout:.0f} s")
    hosts = sorted({h for h, p in listening if p == port})
    shown = ", ".join(f"{h}:{port}" for h in hosts)
    if any(h in ALL_INTERFACES for h in hosts):
        return ok(f"listens on {shown}")
    return fail("the server listens on loopback only: other containers and published ports cannot reach it",
                expected=f"0.0.0.0:{port} (all interfaces)", found=f"listens on {shown}")

@dataclass(frozen=True)
class Identity:
    configured: str           # the image's Config.User ("" means root)
    configured_uid: int | None
    running_uid: int | None   # effective uid of PID 1
    running_name: str | None


def _read(service, path: str) -> str:
    """A file's text from inside the container: testinfra's docker backend, else a Python probe."""
    try:
        return testinfra.get_host(f"docker://{service.container.id}").file(path).content_string
    except Exception as exc:  # no /bin/sh in the image, or the CLI is missing: read it with Python
        log.debug("testinfra could not read %s: %s", path, exc)
    rc, out = service.exec_python(f"import sys; sys.stdout.write(open({path!r}).read())")
    if rc != 0:
        raise ResourceError(f"could not read {path} in the container: {out.strip()[-200:]}")
    return out


def identity(service, config: dict) -> Identity:
    """Who the image says it runs as (`config` is its Config), and who PID 1 of `service` runs as."""
    service.reload()
    users = {}
    for line in _read(service, "/etc/passwd").splitlines():
        parts = line.split(":")
        if len(parts) > 2 and parts[2].isdigit():
            users[parts[0]] = int(parts[2])
    configured = (config.get("User") or "").strip()
    name = configured.split(":")[0]
    configured_uid = 0 if not name else int(name) if name.isdigit() else users.get(name)
    running = None
    for line in _read(service, "/proc/1/status").splitlines():
        if line.startswith("Uid:"):
            running = int(line.split()[2])  # real, effective, saved, fs: the effective one decides
    by_uid = {uid: user for user, uid in users.items()}
    return Identity(configured=configured, configured_uid=configured_uid, running_uid=running,
                    running_name=by_uid.get(running))


def static_user(model: DockerfileModel):
    """2.non-root / 5.non-root from the Dockerfile alone (no container could run): USER is not root."""
    ins = model.effective("USER")
    expected = "USER <non-root user> in the image and PID 1 running with a uid other than 0"
    name = ins.resolved.strip().split(":")[0] if ins else ""
    if name in ("", "root", "0"):
        found = f"line {ins.line}: `{ins.text}`" if ins else f"no USER in the final stage of {model.name}"
        return fail("the image runs as root (read from the Dockerfile: no container ran)", expected=expected,
                    found=found)
    return ok(f"line {ins.line}: `{ins.text}` (read from the Dockerfile: no container ran)")


def non_root_outcome(service, image, model: DockerfileModel):
    """2.non-root / 5.non-root: the image's USER and PID 1's uid are not root; from the files when
    no container of the image runs (`service` or `image` None, or the container exits)."""
    if service is None or image is None:
        return static_user(model)
    try:
        who = identity(service, image.config)
    except ResourceError:  # the container exited: its Dockerfile is still evidence
        return static_user(model)
    user = f"USER {who.configured}" if who.configured else "no USER (root)"
    running = f"uid {who.running_uid}" + (f" ({who.running_name})" if who.running_name else "")
    expected = "USER <non-root user> in the image and PID 1 running with a uid other than 0"
    if who.running_uid == 0:
        return fail("the server runs as root", expected=expected, found=f"PID 1 runs as {running}; image: {user}")
    if who.configured_uid == 0:
        return fail("the image's user is root (it only drops privileges at run time)", expected=expected,
                    found=f"image: {user}; PID 1 runs as {running}", partial="root-image")
    if who.configured_uid is None:
        return fail(f"the image's USER {who.configured!r} is not in /etc/passwd", expected=expected,
                    found=f"image: {user}; PID 1 runs as {running}")
    return ok(f"runs as {running}; image: {user}")


HEALTH_OUTPUT_CHARS = 300  # characters of a failing healthcheck's output quoted in a message


def output_tail(text: str, *, chars: int = HEALTH_OUTPUT_CHARS) -> str:
    """The end of a command's output, at most `chars` characters, `…` where it was cut.

    A healthcheck that raises prints a traceback whose cause is on its last line, so the end is
    what a message quotes, never the start (newcomer's finding on issue 13). Terminal escapes go first,
    so a cut never splits one. `chars` is at least 2."""
    text = plain_text(text).strip()
    return text if len(text) <= chars else "…" + text[-(max(chars, 2) - 1):]


def healthy(service, image, *, timeout: float, scale: float = 1.0):
    """2.healthy / 5.healthy: Docker reports `healthy` within the HEALTHCHECK's budget (at most `timeout` s).

    The budget (start-period + interval x retries + timeout, in seconds) is multiplied by `scale`,
    the run's timeout scale: on a machine declared slow the student's own figures stretch as the
    grader's do (a busy 2-core machine starts gunicorn more slowly than the student's laptop)."""
    if not has_healthcheck(image.config):
        return fail("the image has no HEALTHCHECK, so it never turns healthy",
                    expected="a HEALTHCHECK that turns healthy", found="no healthcheck in the image config")
    health = service.health(budget=min(healthcheck_budget(image.config) * scale, timeout))
    if health.status == "healthy":
        if health.seconds <= health.budget:
            return ok(f"`healthy` within {health.seconds:.0f} s of starting (its HEALTHCHECK allows {health.budget:.0f} s)")
        return ok(f"`healthy` when checked, {health.seconds:.0f} s after start")
    if health.status == "exited":
        service.reload()  # raises with the exit code and the last log lines
    output = f"; last healthcheck output: {output_tail(health.last_output)}" if health.last_output.strip() else ""
    return fail(f"the container is `{health.status}` after {health.seconds:.0f} s",
                expected=f"`healthy` within {health.budget:.0f} s (start-period + interval x retries + timeout)",
                found=f"status `{health.status}`{output}")


# -- task 10: what its visible checks (t10_container_tests) and hidden ones (t10_hidden) share --
SHOWN = 4             # tests named in a message before "and N more"
DETAILS_CHARS = 3000  # characters of pytest's output in a check's details


def short_names(nodeids) -> dict[str, str]:
    """How messages name tests: `test_x` when all are in one file, else `test_file.py::test_x`."""
    files = {n.partition("::")[0] for n in nodeids}
    return {n: n.partition("::")[2] if len(files) == 1 and "::" in n else n.split("/")[-1] for n in nodeids}


def _names(nodeids, *, shown: int = SHOWN) -> str:
    names = [short_names(nodeids)[n] for n in sorted(nodeids)]
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def valid_tests(result) -> frozenset[str]:
    """The tests that passed on every correct image: the only ones that may catch a fault."""
    sets = [w.run.passed for w in result.wheats]
    return frozenset.intersection(*sets) if sets else frozenset()


def catches_outcome(result, *, chaff: Chaff) -> Outcome:
    """10.catches-<id> from a ContainerTests: did a valid test fail on the image with this fault?

    Raises ResourceError (blamed on 10.passes-correct) when no test passes on the correct images.
    """
    valid = valid_tests(result)
    if not valid:
        raise ResourceError("no test passes on a correct image, so none can tell a faulty image apart",
                            blame="10.passes-correct")
    already = [(w.label, w.proofs[chaff.id]) for w in result.wheats if chaff.id in w.proofs and w.proofs[chaff.id].holds]
    if already:
        label, proof = already[0]
        return fail(f"{label} already has this fault ({chaff.title}), so it cannot be told apart from it",
                    expected="a correct image to compare with: fix the image first",
                    found=f"on {label}: {proof.evidence}")
    planted = result.chaffs.get(chaff.id)
    if planted is None:
        raise ResourceError(f"the planted fault {chaff.id} was not run", blame="10.passes-correct")
    if not planted.planted and planted.unproven:  # a probe of the grader's gave no answer: no free points
        raise Inconclusive(f"the grader planted this fault ({chaff.title}) but its probe of it gave no answer "
                           f"({planted.reason}), so your tests were not graded on it")
    if not planted.planted:
        return ok(f"not graded on your image: the grader could not plant this fault ({planted.reason}); "
                  "it does not count against you")
    run = planted.run
    if run.error:
        return fail(f"your tests gave no result on the image where {chaff.title}: {run.error}",
                    expected="the tests to run to the end", found=run.error, details=run.output[-DETAILS_CHARS:] or None)
    caught = sorted(n for n in valid if run.outcome(n).outcome != "passed")
    evidence = f"planted: {planted.proof.evidence}" if planted.proof else "planted"
    if caught:
        first = run.outcome(caught[0])
        why = f": {first.message.splitlines()[0][:160]}" if first.message else f" ({first.outcome})"
        return ok(f"caught by {_names(caught)} ({evidence}; {short_names(valid)[first.nodeid]}{why})")
    return fail(f"this fault survived your tests: {chaff.title}",
                expected="a test that passes on the correct image to fail on this one",
                found=f"all {len(valid)} test(s) that pass on the correct image also passed with the fault ({evidence})",
                details=run.output[-DETAILS_CHARS:] or None)
