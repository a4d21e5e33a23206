"""Task 2: Dockerfile.mlapp — builds, pinned base, exec-form CMD, layer order, a healthy non-root API."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

import testinfra

from grader import build as builds
from grader.dockerfiles import DockerfileModel
from grader.errors import ResourceError
from grader.registry import check
from grader.results import fail, ok
from grader.service import ALL_INTERFACES, has_healthcheck, healthcheck_budget, serving_port

log = logging.getLogger(__name__)

INSTALL = re.compile(r"\b(pip3?|uv|poetry|pipenv|conda|mamba|micromamba)\b[^&;|]*\b(install|sync)\b")
SAMPLE = {"tenure_months": 5, "monthly_charges": 89.9, "contract": "month-to-month",
          "internet_service": "fiber_optic", "payment_method": "electronic_check", "support_calls": 3,
          "paperless_billing": True, "senior_citizen": False}


def built(ctx, role: str, dockerfile: str):
    try:
        image = ctx.get(f"{role}_image")
    except ResourceError as exc:
        return fail(exc.message, expected=f"{dockerfile} to build", found=exc.message, details=exc.details)
    mb = image.size / 1e6
    return ok(f"{dockerfile} built in {image.seconds:.1f} s ({len(image.steps)} steps, image {mb:.0f} MB)")


@check("2.builds", phase="build")
def builds_ok(ctx):
    return built(ctx, "mlapp", "Dockerfile.mlapp")


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


@check("2.base-pinned", phase="static", requires=("mlapp_dockerfile",))
def base_is_pinned(ctx):
    good, bad = base_pinned(ctx.get("mlapp_dockerfile"))
    if bad:
        return fail("a base image is not pinned to an exact tag", expected="FROM <image>:<exact tag> in every stage",
                    found="; ".join(bad))
    return ok(f"every FROM names an exact tag: {', '.join(sorted(set(good)))}")


def runs_gunicorn(argv: list[str]) -> bool:
    words = [w for arg in argv for w in arg.split()]
    return any(w.rsplit("/", 1)[-1] == "gunicorn" for w in words)


@check("2.exec-cmd", phase="static", requires=("mlapp_dockerfile",))
def exec_cmd(ctx):
    model: DockerfileModel = ctx.get("mlapp_dockerfile")
    entry, cmd = model.effective("ENTRYPOINT"), model.effective("CMD")
    expected = 'CMD ["gunicorn", ...] in exec (JSON array) form'
    if not entry and not cmd:
        return fail("no CMD: the image would run its base image's default command", expected=expected,
                    found=f"no CMD or ENTRYPOINT in the final stage of {model.name}")
    for ins in (entry, cmd):
        if ins and not ins.exec_form:
            why = ("not valid JSON (use double quotes), so Docker runs it through /bin/sh -c"
                   if ins.body.startswith("[") else "shell form: /bin/sh -c is PID 1, not the server")
            return fail(f"{ins.keyword} is in shell form", expected=expected,
                        found=f"line {ins.line}: `{ins.text}` ({why})")
    argv = (entry.exec_argv() if entry else []) + (cmd.exec_argv() if cmd else [])
    shown = " ".join(i.text for i in (entry, cmd) if i)
    if not runs_gunicorn(argv):
        return fail("the command does not start gunicorn", expected=expected, found=f"`{shown}`")
    return ok(f"exec form: {json.dumps(argv)[:120]}")


@check("2.deps-before-code", phase="build", requires=("mlapp_image", "mlapp_dockerfile"))
def deps_before_code(ctx):
    image, model = ctx.get("mlapp_image"), ctx.get("mlapp_dockerfile")
    installs = [s for s in image.steps if s.instruction.startswith("RUN") and INSTALL.search(s.instruction)]
    if not installs:
        runs = [f"line {i.line}: `{i.text}`" for i in model.instructions if i.keyword == "RUN"]
        return fail("no RUN step installs the Python dependencies",
                    expected="RUN pip install -r requirements.txt after copying only the requirements file",
                    found="; ".join(runs) or "no RUN instruction")
    rebuild = builds.rebuild_after_code_change(ctx, image)
    after = {(s.number, s.instruction): s for s in rebuild.after}
    rerun = [s for s in installs if not rebuild.reused(after.get((s.number, s.instruction), s))]
    change = f"a code change ({rebuild.changed_file})"
    if rerun:
        def at(step) -> str:  # the step with its Dockerfile line, when the instruction can be found
            return step.label + (f" (line {ins.line})" if (ins := model.find(step.instruction)) else "")
        first = next((s for s in rebuild.after if not rebuild.reused(s)), None)
        cause = f": it comes after {at(first)}, which copies the code" if first else ""
        return fail(f"{change} re-ran the dependency install",
                    expected="the pip install layer reused from cache after a code change",
                    found=f"{at(rerun[0])} ran again{cause}")
    return ok(f"{change} reused the dependency layer ({installs[-1].label}); "
              f"{rebuild.shared_layers} of {rebuild.total_layers} image layers unchanged")


def sample_request(ctx) -> dict:
    path = ctx.workdir / "starter" / "sample_request.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, (dict, list)) else SAMPLE
    except (OSError, ValueError):
        return SAMPLE


def _json_answer(answer: dict) -> tuple[bool, str]:
    status = answer.get("status")
    if status is None:
        return False, f"no answer ({answer.get('error')})"
    body = (answer.get("body") or "").strip()
    try:
        json.loads(body)
    except ValueError:
        return False, f"{status} with a body that is not JSON: {body[:120]!r}"
    return status == 200, f"{status} {body[:160]}"


@check("2.api-answers", phase="inspect", requires=("mlapp_api",))
def api_answers(ctx):
    api = ctx.get("mlapp_api")
    results = {
        "GET /health": _json_answer(api.http("/health")),
        "POST /predict": _json_answer(api.http("/predict", method="POST", payload=sample_request(ctx), timeout=20)),
    }
    good = [k for k, (passed, _) in results.items() if passed]
    found = "; ".join(f"{k} -> {text}" for k, (_, text) in results.items())
    if len(good) == len(results):
        return ok(f"on port {api.port}: {found}"[:300])
    return fail("the API does not answer both endpoints with 200 and JSON", fraction=len(good) / len(results),
                expected="GET /health and POST /predict (sample request) -> 200 with a JSON body", found=found)


def binds_all(ctx, role: str, *, blame: str):
    service = ctx.get(f"{role}_container")
    listening = service.wait_listening(timeout=ctx.options.timeout("ready"))
    port = serving_port(listening, service.preferred_ports)
    if port is None:
        return fail("the server listens on no TCP port", expected="a server listening on 0.0.0.0:<port>",
                    found=f"no listening TCP socket within {ctx.options.timeout('ready'):.0f} s")
    hosts = sorted({h for h, p in listening if p == port})
    shown = ", ".join(f"{h}:{port}" for h in hosts)
    if any(h in ALL_INTERFACES for h in hosts):
        return ok(f"listens on {shown}")
    return fail("the server listens on loopback only: other containers and published ports cannot reach it",
                expected=f"0.0.0.0:{port} (all interfaces)", found=f"listens on {shown}")


@check("2.binds-all", phase="inspect", requires=("mlapp_container", "mlapp_image"))
def binds_all_interfaces(ctx):
    return binds_all(ctx, "mlapp", blame="2.api-answers")


@check("2.expose", phase="inspect", requires=("mlapp_container", "mlapp_image", "mlapp_dockerfile"))
def expose(ctx):
    service, model = ctx.get("mlapp_container"), ctx.get("mlapp_dockerfile")
    exposed = list(service.preferred_ports)
    lines = ", ".join(f"`{ins.text}` (line {ins.line})" for ins, _ in model.exposed) or "no EXPOSE"
    listening = service.wait_listening(timeout=ctx.options.timeout("ready"))
    port = serving_port(listening, exposed)
    if port is None:
        return fail("the API listens on no port, so no EXPOSE can match it", expected="EXPOSE <the API's port>",
                    found=f"{lines}; no listening TCP socket")
    if port in exposed:
        return ok(f"EXPOSE {port} matches the port the API listens on")
    return fail(f"EXPOSE does not name the port the API listens on ({port})", expected=f"EXPOSE {port}",
                found=f"{lines}; the image exposes {', '.join(map(str, exposed)) or 'nothing'}")


@check("2.non-root", phase="inspect", requires=("mlapp_container", "mlapp_image"))
def non_root(ctx):
    return non_root_outcome(ctx, "mlapp")


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


def non_root_outcome(ctx, role: str):
    image, service = ctx.get(f"{role}_image"), ctx.get(f"{role}_container")
    who = identity(service, image.config)
    user = f"USER {who.configured}" if who.configured else "no USER (root)"
    running = f"uid {who.running_uid}" + (f" ({who.running_name})" if who.running_name else "")
    expected = "USER <non-root user> in the image and PID 1 running with a uid other than 0"
    if who.running_uid == 0:
        return fail("the server runs as root", expected=expected, found=f"PID 1 runs as {running}; image: {user}")
    if who.configured_uid == 0:
        return fail("the image's user is root (it only drops privileges at run time)", expected=expected,
                    found=f"image: {user}; PID 1 runs as {running}")
    if who.configured_uid is None:
        return fail(f"the image's USER {who.configured!r} is not in /etc/passwd", expected=expected,
                    found=f"image: {user}; PID 1 runs as {running}")
    return ok(f"runs as {running}; image: {user}")


def healthcheck_exec(image, model: DockerfileModel):
    test = (image.config.get("Healthcheck") or {}).get("Test") or []
    ins = model.effective("HEALTHCHECK")
    where = f"line {ins.line}: `{ins.text}`" if ins else "no HEALTHCHECK in the Dockerfile"
    expected = 'HEALTHCHECK CMD ["python", "-c", "..."] (exec form)'
    if not test or test[0] == "NONE":
        return fail("the image has no healthcheck", expected=expected, found=where)
    if test[0] != "CMD":
        return fail("the HEALTHCHECK is in shell form", expected=expected,
                    found=f"{where} (image config: {json.dumps(test)[:160]})")
    return ok(f"exec form: {json.dumps(test[1:])[:120]}")


@check("2.healthcheck-exec", phase="inspect", requires=("mlapp_image", "mlapp_dockerfile"))
def healthcheck_is_exec(ctx):
    return healthcheck_exec(ctx.get("mlapp_image"), ctx.get("mlapp_dockerfile"))


def healthy(ctx, role: str):
    image, service = ctx.get(f"{role}_image"), ctx.get(f"{role}_container")
    if not has_healthcheck(image.config):
        return fail("the image has no HEALTHCHECK, so it never turns healthy",
                    expected="a HEALTHCHECK that turns healthy", found="no healthcheck in the image config")
    health = service.health(budget=min(healthcheck_budget(image.config), ctx.options.timeout("ready")))
    if health.status == "healthy":
        if health.seconds <= health.budget:
            return ok(f"`healthy` within {health.seconds:.0f} s of starting (its HEALTHCHECK allows {health.budget:.0f} s)")
        return ok(f"`healthy` when checked, {health.seconds:.0f} s after start")
    if health.status == "exited":
        service.reload()  # raises with the exit code and the last log lines
    output = f"; last healthcheck output: {health.last_output[:300]}" if health.last_output else ""
    return fail(f"the container is `{health.status}` after {health.seconds:.0f} s",
                expected=f"`healthy` within {health.budget:.0f} s (start-period + interval x retries + timeout)",
                found=f"status `{health.status}`{output}")


@check("2.healthy", phase="inspect", requires=("mlapp_container", "mlapp_image"))
def turns_healthy(ctx):
    return healthy(ctx, "mlapp")
