"""Run the student's container tests in a sandbox, against one image (task 10, issue 15).

The tests are untrusted code: they never run on the grader's host, and never see the Docker socket.
One run (`run_suite`) makes, all labelled with the grading run and always removed:

- a private network (`internal`: no route to the internet) for the container under test;
- the container under test: the image, started as `docker run -d IMAGE` would, on that network,
  with resource limits and `constants.API_SERVER_ENV` (one gunicorn worker); the tests call it
  `lab10-api` (Lab 10's container name: the API proxy translates);
- in the run's scratch folder, two Unix sockets served by the grader: a filtering Docker API proxy
  (grader.docker.apiproxy) allowing only inspect, exec, logs and top of that one container, and
  the API's published port (grader.docker.portforward, what docker-proxy does for `-p`);
- the test runner: a container of the grader's test-runner image (pytest, testinfra; built once
  per machine from grader/docker/runner/) with no network at all (on any Docker network it could
  reach the host's own services through the gateway), as an unprivileged user, read-only root
  file system, every capability dropped, no-new-privileges, a small tmpfs /tmp,
  memory/CPU/process limits and bounded logs. Its mounts are, read-only: a copy of the
  submission's tests/container/ (regular files only) and starter/sample_request.json at /lab, the
  sockets' folder, and the host's docker CLI binary. Inside it, localhost:5000 reaches the API as
  `docker run -p 5000:5000` does in Lab 10, and pytest runs within a time limit.

The contract the tests can rely on (taught in labs/10-testing-containers.md): the container is
`lab10-api` (env API_CONTAINER), the API answers at http://localhost:5000 (env API_URL), the
working directory holds tests/container/ and starter/sample_request.json, and the tests start once
the API answers GET /health (or once it is clear it never will).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import secrets
import shutil
import tempfile
import threading
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import LogConfig, Mount
from requests.exceptions import RequestException

from grader import wait
from grader.constants import API_SERVER_ENV, LABEL_GRADER, LABEL_TOOL, NAME_PREFIX
from grader.docker import probes
from grader.docker.apiproxy import ApiProxy, Scope, engine_address
from grader.docker.build import build_image
from grader.docker.portforward import PortForward
from grader.docker.service import Service, container_ip
from grader.errors import ResourceError

log = logging.getLogger(__name__)

RUNNER_DIR = Path(__file__).with_name("runner")
RUNNER_FILES = ("Dockerfile", ".dockerignore", "requirements.txt", "pytest.ini", "run_tests.py",
                "container_tests_report.py")
RUNNER_REPOSITORY = f"{NAME_PREFIX}-tool/container-tests"
RUNNER_USER = "10002"
ALIAS = "lab10-api"                   # the tests' name for the container under test (Lab 10's)
PUBLISHED_PORT = 5000                 # localhost:5000 in the runner reaches the API (Lab 10's -p 5000:5000)
TESTS_DIR = "tests/container"         # the student's tests, relative to the submission
SAMPLE_REQUEST = "starter/sample_request.json"
MAX_FILES = 200                       # files copied from tests/container
MAX_BYTES = 2_000_000                 # bytes copied from tests/container
# The reference suite (23 tests) runs in 5-10 s on an idle 2-core machine and 30 s under heavy
# load: 120 s leaves room for a slower suite on a busy grading machine.
RUN_LIMIT = 120.0                     # seconds the whole pytest run may take (x --timeout-scale)
TEST_TIMEOUT = 60                     # seconds one test may take (pytest-timeout), as Lab 10 says
KILL_GRACE = 30.0                     # seconds after RUN_LIMIT before the runner is killed
# pytest + testinfra + the docker CLI need well under 100 MB; 512 MB and 256 processes bound a suite
# that forks or allocates without end.
RUNNER_LIMITS = {"mem_limit": "512m", "pids_limit": 256, "nano_cpus": 1_000_000_000}
# The reference API uses 200-290 MB (docker stats); the run's --limit-* options take precedence.
CUT_LIMITS = {"mem_limit": "1g", "pids_limit": 512}
TMPFS = {"/tmp": "rw,nosuid,nodev,size=64m,mode=1777"}
LOG_LIMIT = LogConfig(type="json-file", config={"max-size": "1m", "max-file": "1"})
RESULT_MARK = "MLOPS-GRADER-RESULT "  # the runner's last line (grader/docker/runner/run_tests.py)
OUTPUT_CHARS = 4000                   # characters of pytest's output kept in a SuiteRun
LOOPBACK_EVERY = 4                    # readiness polls (0.5 s apart) between two probes from inside
PASSED = "passed"


@dataclass(frozen=True)
class TestOutcome:
    """One test of the suite on one image: nodeid (tests/container/test_x.py::test_y), outcome
    (passed | failed | error | skipped | timed-out) and the first lines of its failure."""

    __test__ = False  # not a test class, whatever its name says to pytest

    nodeid: str
    outcome: str
    message: str = ""

    @property
    def name(self) -> str:
        return self.nodeid.removeprefix(TESTS_DIR + "/")


@dataclass(frozen=True)
class SuiteRun:
    """The student's tests run once against one image.

    `error` says why the run gave no result (None when it did); `exit_code` is pytest's; `output`
    the end of pytest's output (at most OUTPUT_CHARS); `container` the state of the container under
    test after the tests ("running", "exited with code 3"); `evidence` what the `before` callback of
    run_suite returned (the planted fault's proof); `refused` the Docker API requests the sandbox
    refused; `seconds` the wall time of the whole run.
    """

    image: str
    tests: tuple[TestOutcome, ...] = ()
    collect_errors: tuple[TestOutcome, ...] = ()
    exit_code: int | None = None
    timed_out: bool = False
    output: str = ""
    error: str | None = None
    container: str = ""
    evidence: object = None
    refused: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def passed(self) -> frozenset[str]:
        return frozenset(t.nodeid for t in self.tests if t.outcome == PASSED)

    @property
    def not_passed(self) -> tuple[TestOutcome, ...]:
        return tuple(t for t in self.tests if t.outcome != PASSED)

    def outcome(self, nodeid: str) -> TestOutcome:
        return next((t for t in self.tests if t.nodeid == nodeid),
                    TestOutcome(nodeid, "not run", self.error or "the test did not run"))


class SkipTests(Exception):
    """Raised by run_suite's `before` callback when the tests need not run (e.g. a planted fault did
    not show); the run ends with `reason` as its error and `evidence` as its evidence."""

    def __init__(self, reason: str, evidence: object = None):
        super().__init__(reason)
        self.reason, self.evidence = reason, evidence


# -- the runner image ------------------------------------------------------------------------
def runner_digest(directory: Path = RUNNER_DIR) -> str:
    """A digest of the runner's build files: a change to any of them means a new image."""
    digest = hashlib.sha256()
    for name in RUNNER_FILES:
        digest.update(name.encode() + b"\0" + (directory / name).read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def runner_image(ctx) -> str:
    """The test-runner image's tag, built on first use on this machine (kept: a grader tool image).

    Raises ResourceError when it cannot be built (e.g. PyPI unreachable on first use).
    """
    tag = f"{RUNNER_REPOSITORY}:{runner_digest()}"
    try:
        ctx.docker.images.get(tag)
        return tag
    except ImageNotFound:
        pass
    except APIError as exc:
        raise ResourceError(f"could not look up the test-runner image: {exc}") from None
    build_image(ctx, context=RUNNER_DIR, dockerfile="Dockerfile", tag=tag, what="the grader's test-runner image",
                labels={LABEL_GRADER: "1", LABEL_TOOL: "container-tests"}, keep=True, cache=True)
    return tag


def docker_cli() -> str:
    """The host's docker CLI binary (resolved), mounted read-only into the runner.

    Raises ResourceError when there is none, or when it is not a Linux (ELF) executable: the sandbox
    runs it inside a Linux container, so task 10 grades on Linux hosts (Codespaces, CI, Linux).
    """
    found = shutil.which("docker")
    path = Path(found).resolve() if found else None
    if path is None or not path.is_file():
        raise ResourceError("the docker CLI is not on PATH: the container tests (testinfra's docker backend) "
                            "need it; run `make setup` (or `python -m grader doctor`)")
    with open(path, "rb") as fh:
        if fh.read(4) != b"\x7fELF":
            raise ResourceError(f"{path} is not a Linux executable: task 10 runs the container tests in a Linux "
                                "sandbox with the host's docker CLI; grade on Linux (Codespaces, CI, the dev container)")
    return str(path)


# -- the tests -------------------------------------------------------------------------------
def collect_tests(workdir: Path, dest: Path) -> tuple[str, ...]:
    """Copy the submission's tests/container/ (regular files only) and its sample request to `dest`.

    Symbolic links and special files are skipped: the copy is what the runner mounts, and nothing
    outside the submission may reach it. Returns the test files (tests/container/test_*.py);
    raises ResourceError when there are none, or too many files or bytes (MAX_FILES, MAX_BYTES).
    """
    source = workdir / TESTS_DIR
    inside = source.resolve().is_relative_to(workdir.resolve()) and not source.is_symlink()
    if not inside or not source.is_dir():
        raise ResourceError(f"no {TESTS_DIR}/ folder in the submission", blame="10.passes-correct",
                            expected=f"pytest tests in {TESTS_DIR}/test_*.py")
    files = sorted(p for p in source.rglob("*") if p.is_file() and not p.is_symlink() and "__pycache__" not in p.parts
                   and not any(q.is_symlink() for q in p.parents if q.is_relative_to(source)))
    if len(files) > MAX_FILES or sum(p.stat().st_size for p in files) > MAX_BYTES:
        raise ResourceError(f"{TESTS_DIR}/ holds more than {MAX_FILES} files or {MAX_BYTES // 1_000_000} MB",
                            blame="10.passes-correct", expected="a small folder of test files")
    tests = tuple(str(p.relative_to(workdir)) for p in files if p.name.startswith("test_") and p.suffix == ".py")
    if not tests:
        raise ResourceError(f"no test_*.py file in {TESTS_DIR}/", blame="10.passes-correct",
                            expected=f"pytest tests in {TESTS_DIR}/test_*.py")
    try:
        if dest.exists():
            shutil.rmtree(dest)
        for path in files:
            target = dest / path.relative_to(workdir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        sample = workdir / SAMPLE_REQUEST
        if sample.is_file() and not sample.is_symlink() and sample.resolve().is_relative_to(workdir.resolve()):
            (dest / SAMPLE_REQUEST).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sample, dest / SAMPLE_REQUEST)
        for path in [dest, *dest.rglob("*")]:  # readable by the runner's user whatever the grader's umask
            path.chmod(0o755 if path.is_dir() else 0o644)
    except OSError as exc:  # e.g. an unreadable file
        raise ResourceError(f"{TESTS_DIR}/ could not be copied for the test runner: {exc}", blame="10.passes-correct",
                            expected=f"readable files in {TESTS_DIR}/") from None
    return tests


def parse_result(logs: str) -> dict | None:
    """The runner's result document: the JSON after the last RESULT_MARK line; None if there is none."""
    for line in reversed(logs.splitlines()):
        if line.startswith(RESULT_MARK):
            try:
                data = json.loads(line[len(RESULT_MARK):])
            except ValueError:
                return None
            return data if isinstance(data, dict) else None
    return None


def outcomes(items) -> tuple[TestOutcome, ...]:
    """TestOutcomes from the runner's JSON list (anything malformed is dropped)."""
    found = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("nodeid"), str):
            found.append(TestOutcome(nodeid=item["nodeid"][:300], outcome=str(item.get("outcome", "error"))[:20],
                                     message=str(item.get("message") or "")[:600]))
    return tuple(found)


# -- one run ---------------------------------------------------------------------------------
@dataclass
class _Run:
    """What one run created, removed in reverse order whatever happens."""

    ctx: object
    made: list = field(default_factory=list)

    def add(self, description: str, remove: Callable[[], object]) -> None:
        def once() -> None:
            try:
                remove()
            except NotFound:
                pass  # already gone: removed when the run ended
        self.made.append((description, once))
        self.ctx.defer(description, once)  # the grading run's teardown removes it too if this run is cut off

    def close(self) -> None:
        while self.made:
            description, remove = self.made.pop()
            try:
                remove()
            except (APIError, DockerException, OSError, RequestException) as exc:
                log.debug("%s: %s", description, exc)


def _container_state(container) -> str:
    try:
        container.reload()
    except (NotFound, APIError, RequestException):
        return "removed"
    state = container.attrs.get("State") or {}
    if container.status == "running":
        return "running"
    return f"{container.status} with code {state.get('ExitCode')}" + (" (out of memory)" if state.get("OOMKilled") else "")


def http_status(url: str, *, timeout: float) -> int | None:
    """The status of GET `url` made by the grader itself (the host reaches a container's IP on Linux,
    as the published port needs anyway): no `docker exec`, so waiting costs the container nothing."""
    try:
        with probes.DIRECT.open(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError, http.client.HTTPException):
        return None


def wait_ready(service: Service, *, port: int, timeout: float, stop: threading.Event) -> str:
    """Wait until the container answers GET /health on `port` (on its network address, or only on
    loopback), or exits, or `timeout` seconds pass; return which ("answers", "loopback only",
    "exited", "no answer", "stopped"). Images with a planted fault may never answer."""
    polls = []

    def probe() -> str:
        polls.append(None)
        if stop.is_set():
            return "stopped"
        try:
            service.container.reload()
        except NotFound:
            return "exited"
        if service.container.status not in ("running", "restarting"):
            return "exited"
        if service.ip and http_status(f"http://{service.ip}:{port}/health", timeout=3) == 200:
            return "answers"
        # A server bound to loopback only answers from inside: ask there, now and then (an exec costs).
        if len(polls) % LOOPBACK_EVERY == 0 and probes.http(
                service.container, f"http://127.0.0.1:{port}/health", timeout=3).get("status") == 200:
            return "loopback only"
        return "no answer"

    return wait.poll(probe, timeout=timeout, interval=0.5, until=lambda state: state != "no answer")


def run_suite(ctx, *, image: str, tests: Path, port: int, runner: str, must_answer: bool,
              before: Callable[[Service], object] | None = None, stop: threading.Event | None = None) -> SuiteRun:
    """Run the tests copied to `tests` (collect_tests) against a container of `image`; never raises
    for what the tests or the image do.

    `port` is the API's port in the container; `runner` the test-runner image's tag. With
    `must_answer` (a correct image) the container must answer GET /health first, else ResourceError
    (blamed on 2.api-answers); otherwise the tests start once it answers, exits or `ready` seconds
    pass. `before(service)` runs once the container is ready, before the tests (the planted fault's
    proof); its result is the run's `evidence`, and it may raise SkipTests to end the run there. `stop`
    set by another thread ends the run early.
    Raises ResourceError only when the sandbox itself cannot be set up.
    """
    stop = stop or threading.Event()
    started = time.monotonic()
    token = secrets.token_hex(4)
    run = _Run(ctx)
    docker = ctx.docker
    try:
        network = docker.networks.create(ctx.name(f"tests-{token}"), driver="bridge", internal=True,
                                         labels=ctx.labels)
        run.add(f"remove network {network.name}", network.remove)
        limits = {**CUT_LIMITS, **ctx.options.limits.container_kwargs()}
        try:
            container = docker.containers.create(image, name=ctx.name(f"cut-{token}"), labels=ctx.labels,
                                                 detach=True, network=network.name,
                                                 environment=dict(API_SERVER_ENV), **limits)
        except (APIError, ImageNotFound) as exc:
            raise ResourceError(f"the container under test could not be created: {exc.explanation or exc}") from None
        run.add(f"remove container {container.name}", lambda: probes.remove_container(container))
        service = Service(container=container, role="mlapp", name="container under test", port=port,
                          preferred_ports=(port,), started=time.monotonic(), blame="2.api-answers",
                          deadline=ctx.deadline)
        try:
            container.start()
        except APIError as exc:
            if must_answer:
                raise ResourceError(f"the container under test could not start: {exc.explanation or exc}",
                                    blame="2.api-answers") from None
        state = wait_ready(service, port=port, timeout=ctx.options.timeout("ready"), stop=stop)
        if state == "stopped":  # the grading run is ending: no proofs, no tests
            return SuiteRun(image=image, error="stopped", container=_container_state(container),
                            seconds=round(time.monotonic() - started, 1))
        if must_answer and state != "answers":
            service.answering(timeout=0)  # raises, saying where it listens and what the last probe got
        try:
            evidence = before(service) if before else None
        except SkipTests as exc:
            return SuiteRun(image=image, error=exc.reason, evidence=exc.evidence, container=_container_state(container),
                            seconds=round(time.monotonic() - started, 1))
        if stop.is_set():
            return SuiteRun(image=image, error="stopped", evidence=evidence, container=_container_state(container),
                            seconds=round(time.monotonic() - started, 1))
        address = _address(container)  # None once it has exited: the published port then refuses
        proxy_dir = socket_dir(ctx, token)
        run.add(f"remove {proxy_dir}", lambda: shutil.rmtree(proxy_dir, ignore_errors=True))
        scope = Scope(container_id=container.id, names=(ALIAS, container.name))
        try:
            with ApiProxy(path=proxy_dir / "docker.sock", scope=scope, engine=engine_address()) as proxy, \
                    PortForward(path=proxy_dir / "api.sock", target=(address, port) if address else None):
                result, output_logs = _run_runner(ctx, run=run, runner=runner, tests=tests, proxy_dir=proxy_dir,
                                                  token=token, stop=stop)
                refused = tuple(proxy.refused)
        except OSError as exc:  # e.g. a socket that cannot be made: the sandbox's fault, never the tests'
            raise ResourceError(f"the test sandbox could not be set up: {exc}") from None
        state = _container_state(container)
    finally:
        run.close()
    seconds = round(time.monotonic() - started, 1)
    if result is None:
        return SuiteRun(image=image, error=output_logs, container=state, evidence=evidence, refused=refused,
                        seconds=seconds)
    return SuiteRun(image=image, tests=outcomes(result.get("tests")),
                    collect_errors=outcomes(result.get("collect_errors")),
                    exit_code=result.get("exit_code") if isinstance(result.get("exit_code"), int) else None,
                    timed_out=bool(result.get("timed_out")), output=str(result.get("output") or "")[-OUTPUT_CHARS:],
                    container=state, evidence=evidence, refused=refused, seconds=seconds)


def socket_dir(ctx, token: str) -> Path:
    """A folder for the run's two Unix sockets, mode 0755: in the system's temp folder, as a socket path
    must stay short (108 bytes on Linux), named after the grading run so `grader cleanup` finds it."""
    base = Path(tempfile.gettempdir())
    if len(str(base)) > 40:
        base = Path("/tmp")
    folder = Path(tempfile.mkdtemp(prefix=f"{NAME_PREFIX}-{ctx.run_id}-sockets-{token}-", dir=base))
    folder.chmod(0o755)
    return folder


def _address(container) -> str | None:
    try:
        container.reload()
    except (NotFound, APIError, RequestException):
        return None
    return container_ip(container)


def _run_runner(ctx, *, run: _Run, runner: str, tests: Path, proxy_dir: Path, token: str,
                stop: threading.Event) -> tuple[dict | None, str]:
    """Start the runner, wait for it within the limits, return (its result or None, why none)."""
    limit = RUN_LIMIT * ctx.options.timeout_scale
    left = ctx.options.remaining()  # a time budget (--time-budget) bounds the run as it bounds every timeout
    if left is not None:
        limit = min(limit, max(left - KILL_GRACE, 1.0))
    environment = {"DOCKER_HOST": "unix:///run/mlops-grader/docker.sock", "DOCKER_CONFIG": "/tmp/.docker",
                   "API_CONTAINER": ALIAS, "API_URL": f"http://localhost:{PUBLISHED_PORT}",
                   "MLOPS_API_SOCKET": "/run/mlops-grader/api.sock", "MLOPS_PUBLISH": str(PUBLISHED_PORT),
                   "MLOPS_TIME_LIMIT": str(int(limit)), "MLOPS_TEST_TIMEOUT": str(TEST_TIMEOUT)}
    mounts = [Mount("/lab", str(tests), type="bind", read_only=True),
              Mount("/run/mlops-grader", str(proxy_dir), type="bind", read_only=True),
              Mount("/usr/local/bin/docker", docker_cli(), type="bind", read_only=True)]
    try:
        container = ctx.docker.containers.create(
            runner, name=ctx.name(f"runner-{token}"), labels=ctx.labels, detach=True, user=RUNNER_USER,
            environment=environment, mounts=mounts, network_mode="none", read_only=True, tmpfs=TMPFS,
            cap_drop=["ALL"], security_opt=["no-new-privileges"], log_config=LOG_LIMIT, **RUNNER_LIMITS)
    except (APIError, ImageNotFound) as exc:
        raise ResourceError(f"the test runner could not be created: {exc.explanation or exc}") from None
    run.add(f"remove container {container.name}", lambda: probes.remove_container(container))
    try:
        container.start()
    except APIError as exc:
        raise ResourceError(f"the test runner could not start: {exc.explanation or exc}") from None

    def finished() -> bool:
        container.reload()
        return stop.is_set() or container.status not in ("created", "running", "restarting")

    done = wait.poll(finished, timeout=limit + KILL_GRACE, interval=0.5)
    if not done or stop.is_set():
        try:
            container.kill()
        except APIError:
            pass
    try:
        logs = container.logs(stdout=True, stderr=True, tail=200).decode("utf-8", "replace")
    except (APIError, RequestException) as exc:
        return None, f"the test runner's output could not be read: {exc}"
    result = parse_result(logs)
    if result is not None:
        return result, ""
    if stop.is_set():
        return None, "stopped"
    why = (f"the tests did not finish within {limit + KILL_GRACE:.0f} s" if not done
           else "the test runner ended without a result")
    return None, f"{why}; its last output: {logs.strip()[-500:] or '(none)'}"
