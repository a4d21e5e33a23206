"""Task 2: Dockerfile.mlapp — builds, pinned base, exec-form CMD, layer order, a healthy non-root API."""

from __future__ import annotations

import json
import logging
import re

from grader.docker import build as builds
from grader.docker.service import serving_port
from grader.errors import ResourceError
from grader.parse.dockerfiles import DockerfileModel
from grader.parse.shellwords import substitute
from grader.registry import check
from grader.results import fail, ok
from grader.tasks.common import base_pinned, binds_all, built, healthy, non_root_outcome, sample_request

log = logging.getLogger(__name__)

INSTALL = re.compile(r"\b(pip3?|uv|poetry|pipenv|conda|mamba|micromamba)\b[^&;|]*\b(install|sync)\b")
# The port the API serves on when its command names none: churn.gunicorn_conf binds HOST:PORT,
# 0.0.0.0:5000 by default (starter/src/churn/config.py).
DEFAULT_PORT = 5000
BIND = re.compile(r"^(?:--bind|-b)(?:=|$)")


@check("2.builds", phase="build")
def builds_ok(mlapp_image):
    return built(mlapp_image, "Dockerfile.mlapp")


@check("2.base-pinned", phase="static")
def base_is_pinned(mlapp_dockerfile):
    good, bad = base_pinned(mlapp_dockerfile)
    if bad:
        return fail("a base image is not pinned to an exact tag", expected="FROM <image>:<exact tag> in every stage",
                    found="; ".join(bad))
    return ok(f"every FROM names an exact tag: {', '.join(sorted(set(good)))}")


def runs_gunicorn(argv: list[str]) -> bool:
    words = [w for arg in argv for w in arg.split()]
    return any(w.rsplit("/", 1)[-1] == "gunicorn" for w in words)


@check("2.exec-cmd", phase="static")
def exec_cmd(mlapp_dockerfile):
    model: DockerfileModel = mlapp_dockerfile
    entry, cmd = model.effective("ENTRYPOINT"), model.effective("CMD")
    expected = 'CMD ["gunicorn", ...] in exec (JSON array) form'
    if not entry and not cmd:
        return fail("no CMD: the image would run its base image's default command", expected=expected,
                    found=f"no CMD or ENTRYPOINT in the final stage of {model.name}")
    for ins in (entry, cmd):
        if ins and not ins.exec_form:
            why = ("not valid JSON (use double quotes), so Docker runs it through /bin/sh -c"
                   if ins.body.startswith("[") else "shell form: /bin/sh -c is PID 1, not the server")
            words = (entry.body.split() if entry else []) + (cmd.body.split() if cmd else [])
            return fail(f"{ins.keyword} is in shell form", expected=expected,
                        found=f"line {ins.line}: `{ins.text}` ({why})",
                        partial="shell-form" if runs_gunicorn(words) else None)
    argv = (entry.exec_argv() if entry else []) + (cmd.exec_argv() if cmd else [])
    shown = " ".join(i.text for i in (entry, cmd) if i)
    if not runs_gunicorn(argv):
        return fail("the command is in exec form but does not start gunicorn", expected=expected,
                    found=f"`{shown}`", partial="wrong-server")
    return ok(f"exec form: {json.dumps(argv)[:120]}")


def copies_code(ins, workdir) -> bool:
    """A COPY/ADD whose sources include the application code (a .py file, or a directory with one)."""
    for source in ins.sources():
        local = (workdir / source).resolve() if source not in (".", "./") else workdir
        if source.endswith(".py") or local == workdir or (local.is_dir() and next(local.rglob("*.py"), None)):
            return True
    return False


def static_layer_order(workdir, model: DockerfileModel):
    """2.deps-before-code from the Dockerfile alone: in the stage that installs the dependencies, the
    install RUN comes before any COPY/ADD of the code (used when the image does not build)."""
    expected = "RUN pip install -r requirements.txt after copying only the requirements file"
    for stage in model.stages:
        body = stage.instructions
        installs = [i for i in body if i.keyword == "RUN" and INSTALL.search(i.text)]
        if not installs:
            continue
        code = [i for i in body if i.keyword in ("COPY", "ADD") and "from" not in i.flags and copies_code(i, workdir)]
        early = [i for i in code if i.line < installs[0].line]
        if early:
            return fail("the code is copied before the dependency install (read from the Dockerfile: the image "
                        "did not build)", expected=expected,
                        found=f"line {early[0].line}: `{early[0].text}` comes before line {installs[0].line}: "
                              f"`{installs[0].text}`")
        return ok(f"line {installs[0].line}: `{installs[0].text}` comes before the code is copied "
                  f"(read from the Dockerfile: the image did not build)")
    runs = [f"line {i.line}: `{i.text}`" for i in model.instructions if i.keyword == "RUN"]
    return fail("no RUN step installs the Python dependencies", expected=expected,
                found="; ".join(runs) or "no RUN instruction")


@check("2.deps-before-code", phase="build")
def deps_before_code(ctx, mlapp_dockerfile, mlapp_image=None):
    image, model = mlapp_image, mlapp_dockerfile
    if image is None:
        return static_layer_order(ctx.workdir, model)
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


@check("2.api-answers", phase="inspect")
def api_answers(ctx, mlapp_api):
    api = mlapp_api
    results = {
        "GET /health": _json_answer(api.http("/health")),
        "POST /predict": _json_answer(api.http("/predict", method="POST", payload=sample_request(ctx.workdir), timeout=20)),
    }
    good = [k for k, (passed, _) in results.items() if passed]
    found = "; ".join(f"{k} -> {text}" for k, (_, text) in results.items())
    if len(good) == len(results):
        return ok(f"on port {api.port}: {found}"[:300])
    return fail("the API does not answer both endpoints with 200 and JSON", partial="endpoints",
                measure=len(good) / len(results), expected="GET /health and POST /predict (sample request) -> 200 with a JSON body", found=found)


@check("2.binds-all", phase="inspect")
def binds_all_interfaces(ctx, mlapp_container):
    return binds_all(mlapp_container, timeout=ctx.options.timeout("ready", capped=False))


def static_port(model: DockerfileModel) -> tuple[int, str]:
    """The port the image's command serves on, read from the Dockerfile: gunicorn's --bind/-b, else
    ENV PORT (churn.gunicorn_conf reads it), else 5000; with where that was read."""
    words = [w for keyword in ("ENTRYPOINT", "CMD") if (ins := model.effective(keyword))
             for w in (ins.exec_argv() or ins.body.split())]
    env = model.env
    for i, word in enumerate(words):
        if BIND.match(word):
            value = word.split("=", 1)[1] if "=" in word else (words[i + 1] if i + 1 < len(words) else "")
            port = substitute(value, env).rsplit(":", 1)[-1]
            if port.isdigit():
                return int(port), f"`{word if '=' in word else word + ' ' + value}` in the command"
    if env.get("PORT", "").isdigit():
        return int(env["PORT"]), f"ENV PORT={env['PORT']}"
    return DEFAULT_PORT, "gunicorn's default in churn.gunicorn_conf"


def static_expose(model: DockerfileModel):
    """2.expose from the Dockerfile alone (the container could not be run)."""
    port, where = static_port(model)
    exposed = [int(p.split("/")[0]) for _, p in model.exposed if p.split("/")[0].isdigit() and p.endswith("/tcp")]
    lines = ", ".join(f"`{ins.text}` (line {ins.line})" for ins, _ in model.exposed) or "no EXPOSE"
    if port in exposed:
        return ok(f"EXPOSE {port} matches the port the command serves on ({where}; read from the Dockerfile: "
                  "no container ran)")
    return fail(f"EXPOSE does not name the port the command serves on ({port}, {where})", expected=f"EXPOSE {port}",
                found=lines)


@check("2.expose", phase="inspect")
def expose(ctx, mlapp_dockerfile, mlapp_container=None):
    service, model = mlapp_container, mlapp_dockerfile
    if service is None:
        return static_expose(model)
    exposed = list(service.preferred_ports)
    lines = ", ".join(f"`{ins.text}` (line {ins.line})" for ins, _ in model.exposed) or "no EXPOSE"
    try:
        listening = service.wait_listening(timeout=ctx.options.timeout("ready", capped=False))
    except ResourceError:  # the container exited: its files are still evidence
        return static_expose(model)
    port = serving_port(listening, exposed)
    if port is None:
        return fail("the API listens on no port, so no EXPOSE can match it", expected="EXPOSE <the API's port>",
                    found=f"{lines}; no listening TCP socket")
    if port in exposed:
        return ok(f"EXPOSE {port} matches the port the API listens on")
    return fail(f"EXPOSE does not name the port the API listens on ({port})", expected=f"EXPOSE {port}",
                found=f"{lines}; the image exposes {', '.join(map(str, exposed)) or 'nothing'}")


@check("2.non-root", phase="inspect")
def non_root(mlapp_dockerfile, mlapp_container=None, mlapp_image=None):
    return non_root_outcome(mlapp_container, mlapp_image, mlapp_dockerfile)


def healthcheck_exec(image, model: DockerfileModel):
    """2.healthcheck-exec: the image's healthcheck (else the Dockerfile's, when the image did not build)."""
    ins = model.effective("HEALTHCHECK")
    if image is not None:
        test = (image.config.get("Healthcheck") or {}).get("Test") or []
    elif ins is None or ins.body.strip().upper() == "NONE":
        test = []
    else:
        test = ["CMD", *ins.exec_argv()] if ins.exec_form else ["CMD-SHELL", ins.body]
    where = f"line {ins.line}: `{ins.text}`" if ins else "no HEALTHCHECK in the Dockerfile"
    expected = 'HEALTHCHECK CMD ["python", "-c", "..."] (exec form)'
    if not test or test[0] == "NONE":
        return fail("the image has no healthcheck", expected=expected, found=where)
    if test[0] != "CMD":
        return fail("the HEALTHCHECK is in shell form", expected=expected,
                    found=f"{where} (image config: {json.dumps(test)[:160]})")
    return ok(f"exec form: {json.dumps(test[1:])[:120]}")


@check("2.healthcheck-exec", phase="inspect")
def healthcheck_is_exec(mlapp_dockerfile, mlapp_image=None):
    return healthcheck_exec(mlapp_image, mlapp_dockerfile)


@check("2.healthy", phase="inspect")
def turns_healthy(ctx, mlapp_container, mlapp_image):
    return healthy(mlapp_container, mlapp_image, timeout=ctx.options.timeout("ready", capped=False),
                   scale=ctx.options.timeout_scale)
