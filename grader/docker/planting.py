"""Plant one fault ("chaff") in the student's API image, and prove that it is really there (issue 15).

A chaff (grader/chaffs.yaml, grader.chaffs.Chaff) is made in one of two ways, both through the
shared layer cache and labelled and removed like every grader image (grader.docker.build):

- derived: a tiny Dockerfile `FROM <the student's built image>` followed by the chaff's lines,
  with the chaff's `files` beside it (a build context of a few bytes: seconds to build);
- dockerfile: the student's own Dockerfile.mlapp with the chaff's lines appended, built in the
  student's context: every student step comes from the layer cache, only the new lines run.

Placeholders in the lines ({user}, {workdir}, {models}, {command}, {port}) are filled in from the
student's image (`ImageFacts`). A fault must be real, so before the tests run, the grader proves it
on the running container with its own probe (`confirm`, one of CONFIRMS) — and the same probe on
the student's correct image must not find it. A chaff that cannot be built or whose fault does not
show is "not planted" (it does not count against the student; the report says why).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from dataclasses import dataclass

from docker.errors import APIError, NotFound
from requests.exceptions import RequestException

from grader import wait
from grader.chaffs import Chaff
from grader.docker import probes
from grader.docker.build import BuiltImage, build_image
from grader.docker.service import Service, has_healthcheck, reachable
from grader.errors import ResourceError

log = logging.getLogger(__name__)

PLACEHOLDER = re.compile(r"\{(user|workdir|models|command|port)\}")
LOG_WAIT = 3.0            # seconds a request's log line may take to reach `docker logs`
COMPILERS = ("gcc", "cc", "g++", "c++", "clang", "tcc")
MODELS_PROBE = r"""
import json, os
SKIP = {"proc", "sys", "dev", "run", "tmp", "site-packages", "dist-packages", "__pycache__", "node_modules"}
found = []
for root, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if d not in SKIP]
    found += [os.path.join(root, f) for f in files if f.endswith(".joblib")]
print(json.dumps(sorted(found)[:20]))
"""


class NotPlanted(Exception):
    """The chaff could not be made from this student's image; `reason` says why."""

    def __init__(self, reason: str, details: str | None = None):
        super().__init__(reason)
        self.reason, self.details = reason, details


@dataclass(frozen=True)
class ImageFacts:
    """What the placeholders of a chaff are filled with, read from the student's image.

    `user` is its USER ("root" when it sets none), `workdir` its WORKDIR ("/" when none), `models`
    the absolute paths of its model files (*.joblib outside site-packages), `command` its
    ENTRYPOINT + CMD, `port` the port its API serves on (found by grader.docker.service).
    """

    user: str
    workdir: str
    models: tuple[str, ...]
    command: tuple[str, ...]
    port: int

    def value(self, name: str) -> str:
        """The text a placeholder stands for; NotPlanted when the image has nothing for it."""
        if name == "models":
            if not self.models:
                raise NotPlanted("no model file (*.joblib) was found in the image")
            return " ".join(self.models)
        if name == "command":
            if not self.command:
                raise NotPlanted("the image has no ENTRYPOINT or CMD")
            return json.dumps(list(self.command))
        return str(getattr(self, name))

    def fill(self, text: str) -> str:
        """`text` with every {placeholder} replaced (other braces, e.g. ${VAR:+x}, are left alone)."""
        return PLACEHOLDER.sub(lambda m: self.value(m[1]), text)


def image_facts(ctx, image: BuiltImage, *, port: int) -> ImageFacts:
    """The student's image's USER, WORKDIR, model files (a probe in a one-off container) and command."""
    config = image.config
    try:
        models = tuple(probes.probe_json(ctx, image.tag, MODELS_PROBE))
    except ResourceError as exc:
        log.info("model files of %s not found: %s", image.tag, exc.message)
        models = ()
    command = tuple((config.get("Entrypoint") or []) + (config.get("Cmd") or []))
    return ImageFacts(user=(config.get("User") or "").strip() or "root", workdir=config.get("WorkingDir") or "/",
                      models=models, command=command, port=port)


def dockerfile_text(chaff: Chaff, *, base: str, student_dockerfile: str, facts: ImageFacts) -> str:
    """The Dockerfile that makes the chaff: FROM `base` + its lines, or the student's with its lines appended."""
    lines = facts.fill(chaff.instructions).rstrip("\n")
    if chaff.how == "derived":
        return f"FROM {base}\n{lines}\n"
    return f"{student_dockerfile.rstrip()}\n\n# planted by the grader\n{lines}\n"


def plant(ctx, chaff: Chaff, *, image: BuiltImage, facts: ImageFacts, tag: str) -> BuiltImage:
    """Build the chaff's image under `tag` (removed at cleanup); NotPlanted when it cannot be made."""
    folder = ctx.scratch / f"chaff-{secrets.token_hex(4)}"
    folder.mkdir()
    try:
        if chaff.how == "derived":
            (folder / "Dockerfile").write_text(
                dockerfile_text(chaff, base=image.tag, student_dockerfile="", facts=facts), encoding="utf-8")
            for name, text in chaff.files.items():
                (folder / name).write_text(text, encoding="utf-8")
            context, dockerfile = folder, "Dockerfile"
        else:
            student = (image.context / image.dockerfile).read_text(encoding="utf-8", errors="replace")
            (folder / "Dockerfile").write_text(
                dockerfile_text(chaff, base=image.tag, student_dockerfile=student, facts=facts), encoding="utf-8")
            context, dockerfile = image.context, str(folder / "Dockerfile")
        return build_image(ctx, context=context, dockerfile=dockerfile, tag=tag, what=f"planted fault {chaff.id}",
                           cache=True)
    except ResourceError as exc:
        raise NotPlanted(f"its image did not build: {exc.message}", details=exc.details) from None
    except OSError as exc:
        raise NotPlanted(f"its build files could not be written: {exc}") from None


# -- proofs: is the fault really there? -------------------------------------------------------
@dataclass(frozen=True)
class Proof:
    """A confirm probe's finding on one running container: whether the fault `holds`, and the evidence."""

    holds: bool
    evidence: str
    inconclusive: bool = False  # the probe itself gave no answer (an exec or request that failed or timed out)


def _python(service: Service, code: str) -> tuple[bool, str]:
    rc, out = service.exec_python(code, timeout=20)
    return rc == 0, out.strip()


def _running(service: Service) -> bool:
    try:
        service.container.reload()
    except (NotFound, APIError, RequestException):  # gone, or the engine cannot say
        return False
    return service.container.status in ("running", "restarting")


def _runs_as_root(service: Service, argument: str, sample) -> Proof:
    done, out = _python(service, "print([l.split()[2] for l in open('/proc/1/status') if l.startswith('Uid:')][0])")
    if not done:
        return Proof(False, f"could not read /proc/1/status: {out[-200:]}", inconclusive=True)
    return Proof(out == "0", f"PID 1 runs as uid {out}")


def _loopback_only(service: Service, argument: str, sample) -> Proof:
    port = service.port
    hosts = sorted({h for h, p in probes.listeners(service.container) if p == port})
    shown = ", ".join(f"{h}:{port}" for h in hosts) or "nothing"
    return Proof(bool(hosts) and not any(reachable(h) for h in hosts), f"port {port}: listening on {shown}")


def _no_healthcheck(service: Service, argument: str, sample) -> Proof:
    config = service.container.attrs.get("Config") or {}
    return Proof(not has_healthcheck(config), "no healthcheck" if not has_healthcheck(config)
                 else f"healthcheck {json.dumps(config['Healthcheck'].get('Test'))[:120]}")


def _down(service: Service, argument: str, sample) -> Proof:
    if not _running(service):
        state = service.container.attrs.get("State") or {}
        return Proof(True, f"the container exited with code {state.get('ExitCode')}")
    answer = service.http(service.url("/health"), timeout=5)
    return Proof(answer.get("status") != 200, f"GET /health -> {answer.get('status') or answer.get('error')}")


def _predict_fails(service: Service, argument: str, sample) -> Proof:
    answer = service.http(service.url("/predict"), method="POST", payload=sample, timeout=20)
    status = answer.get("status")
    if status is None:
        return Proof(False, f"POST /predict (sample request) did not answer: {answer.get('error')}", inconclusive=True)
    return Proof(isinstance(status, int) and status >= 500,
                 f"POST /predict (sample request) -> {status or answer.get('error')}")


def _logs_not_on_stdout(service: Service, argument: str, sample) -> Proof:
    request_id = f"mlops-grader-{secrets.token_hex(6)}"
    answer = service.http(service.url("/health"), headers={"X-Request-ID": request_id}, timeout=10)
    if answer.get("status") is None:
        return Proof(False, f"GET /health did not answer: {answer.get('error')}", inconclusive=True)
    seen = wait.poll(lambda: request_id in service.logs(), timeout=LOG_WAIT)
    return Proof(not seen, f"request {request_id} {'is' if seen else 'is not'} in `docker logs`")


def _compiler(service: Service, argument: str, sample) -> Proof:
    done, out = _python(service, f"import json, shutil; print(json.dumps([n for n in {COMPILERS!r} if shutil.which(n)]))")
    try:
        found = json.loads(out.splitlines()[-1]) if done else None
    except (ValueError, IndexError):
        found = None
    if found is None:
        return Proof(False, f"could not look for compilers: {out[-200:]}", inconclusive=True)
    return Proof(bool(found), f"on PATH: {', '.join(found)}" if found else "no compiler on PATH")


def _exists(service: Service, argument: str, sample) -> Proof:
    done, out = _python(service, f"import os; print(os.path.lexists({argument!r}))")
    if not done:
        return Proof(False, f"could not look for {argument}: {out[-200:]}", inconclusive=True)
    return Proof(out.endswith("True"), f"{argument} {'exists' if out.endswith('True') else 'does not exist'}")


# name -> probe(service, argument, sample request) -> Proof; the names grader.chaffs.CONFIRMS allows.
CONFIRMS = {"runs-as-root": _runs_as_root, "loopback-only": _loopback_only, "no-healthcheck": _no_healthcheck,
            "down": _down, "predict-fails": _predict_fails, "logs-not-on-stdout": _logs_not_on_stdout,
            "compiler": _compiler, "exists": _exists}


def confirm(chaff: Chaff, service: Service, *, facts: ImageFacts, sample) -> Proof:
    """Run the chaff's confirm probe on a running container (the chaff's, or the correct image's).

    `service.port` must be the API's port; `sample` is the record POSTed to /predict. A probe that
    cannot run (the container exited, no Python) says so and does not hold, except `down`; one whose
    exec or request failed or timed out is also `inconclusive` (task 10 then gives no verdict).
    """
    probe = CONFIRMS[chaff.confirm_name]
    try:
        argument = facts.fill(chaff.confirm_argument)
    except NotPlanted as exc:
        return Proof(False, exc.reason)
    if chaff.confirm_name != "down" and not _running(service):
        return Proof(False, "the container is not running")
    try:
        return probe(service, argument, sample)
    except ResourceError as exc:  # the probe could not run (exec or request failed): no verdict
        return Proof(False, exc.message, inconclusive=True)
