"""The registry 8.push-pull pushes to (the machine's kept one, a batch's, or a throwaway one), and
pushing/pulling images to it with timeouts."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from grader import wait
from grader.constants import API_SERVER_ENV, LABEL_GRADER, LABEL_TOOL, NAME_PREFIX
from grader.docker.probes import DIRECT, remove_container
from grader.docker.service import Service, exposed_ports
from grader.errors import ResourceError
from grader.options import parse_registry
from grader.parse.references import parse_image
from grader.resources import provides

log = logging.getLogger(__name__)

REGISTRY_IMAGE = "registry:2"
REGISTRY_PORT = "5000/tcp"
SHARED_WAIT_S = 10.0   # seconds a shared registry (--registry) may take to answer: it is already running
# The machine's kept registry (issue 13): pushing the API image to a fresh registry compresses all
# its layers, 395 MB of the reference's: 14.6 CPU-seconds and 8.6 s on a 2-core machine, the
# largest single cost of a warm grade. A registry kept between grades already holds the layers an
# earlier grade pushed (the base image, the dependencies), and the engine mounts them into the new
# repository instead of uploading them ("Mounted from ..."): 0.1 CPU-seconds. A grading tool like
# the test-runner image: labelled LABEL_TOOL=registry, no run label, so no run's cleanup removes it;
# `python -m grader cleanup --cache` does, and a grade that finds it holding more than
# KEPT_KEEP_BYTES starts it afresh when no other grade is using it.
KEPT_REGISTRY = f"{NAME_PREFIX}-tool-registry"
KEPT_LABELS = {LABEL_GRADER: "1", LABEL_TOOL: "registry"}
KEPT_KEEP_BYTES = 3_000_000_000
LOCK_WAIT_S = 60.0     # seconds a grade waits for another one that is (re)starting the kept registry


@dataclass(frozen=True)
class LocalRegistry:
    """A registry the engine pushes to: the run's own `container` on 127.0.0.1:`port`, or a shared
    one (`container` None: a batch's) at `host`:`port`, where the run's images go under the folder
    `namespace` (its run id), so that no two runs ever push the same repository."""

    container: object
    port: int
    host: str = "localhost"   # "localhost" needs no insecure-registry setting in the engine
    namespace: str | None = None
    kept: bool = False        # the machine's kept registry (kept_registry)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def ref(self, repository: str) -> str:
        return f"{self.address}/{self.namespace}/{repository}" if self.namespace else f"{self.address}/{repository}"


class _NothingThere(Exception):
    """No server at a registry's address (connection refused, a name that does not resolve):
    waiting longer would not change that."""


def _answers(url: str, *, give_up: bool = False) -> bool:
    """Whether the registry API at `url` (…/v2/) answers, directly (never through an HTTP proxy).
    With `give_up`, a refused connection or an unknown name raises _NothingThere instead of False."""
    try:
        with DIRECT.open(url, timeout=3) as response:
            return response.status == 200
    except urllib.error.HTTPError as exc:
        return exc.code == 401  # an auth-protected registry answers too
    except OSError as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if give_up and isinstance(reason, (ConnectionRefusedError, socket.gaierror)):
            raise _NothingThere(str(reason)) from None
        return False


def registry_bytes(container) -> int | None:
    """Bytes a registry container holds in /var/lib/registry (`du` inside it); None when unknown."""
    try:
        code, out = container.exec_run(["du", "-sk", "/var/lib/registry"])
        return int(out.split()[0]) * 1024 if code == 0 else None
    except (APIError, DockerException, ValueError, IndexError):
        return None


def remove_registry(container, network) -> None:
    """Remove a registry started by start_registry: the container (with its storage), then its network."""
    remove_container(container)
    try:
        network.remove()
    except NotFound:
        pass


def start_registry(cli, *, name: str, labels: dict, timeout: float) -> tuple[object, object, int]:
    """Start registry:2 (`REGISTRY_IMAGE`) named `name` with `labels`, on a bridge network of its own
    (`name`-net, same labels) and published on a random port of 127.0.0.1 only, and wait (at most
    `timeout` seconds) until it answers /v2/; (container, network, port).

    Its own network: no other container reaches it (the engine drops traffic between bridges; a
    build's RUN steps and containers on the default bridge would otherwise reach the registry's
    address there, with every image pushed to it). ResourceError when the image is missing or it
    does not answer (what was made is then removed)."""
    try:
        cli.images.get(REGISTRY_IMAGE)
    except ImageNotFound:
        raise ResourceError(f"the image {REGISTRY_IMAGE} is not on this machine: run `docker pull "
                            f"{REGISTRY_IMAGE}` (or `python -m grader doctor`)") from None
    try:
        network = cli.networks.create(f"{name}-net", driver="bridge", labels=labels)
    except (APIError, DockerException) as exc:
        raise ResourceError(f"could not create the local registry's network: {exc}") from None
    try:
        container = cli.containers.run(REGISTRY_IMAGE, detach=True, name=name, labels=labels, network=network.name,
                                       ports={REGISTRY_PORT: ("127.0.0.1", None)})
    except (APIError, DockerException) as exc:
        network.remove()
        raise ResourceError(f"could not start a local registry: {exc}") from None

    def probe() -> tuple[str, int | None]:
        container.reload()
        if container.status != "running":
            return "stopped", None
        bindings = (container.attrs["NetworkSettings"].get("Ports") or {}).get(REGISTRY_PORT) or []
        port = int(bindings[0]["HostPort"]) if bindings else None
        return ("answers" if port and _answers(f"http://127.0.0.1:{port}/v2/") else "waiting"), port

    try:
        state, port = wait.poll(probe, timeout=timeout, until=lambda found: found[0] != "waiting")
        if state == "answers":
            return container, network, port
        logs = container.logs(tail=20).decode("utf-8", "replace")
    except (APIError, DockerException) as exc:
        state, port, logs = f"gone ({exc})", None, ""
    remove_registry(container, network)
    raise ResourceError(f"the local registry did not answer /v2/ (status {state}, port {port})", details=logs)


def lock_path(name: str = KEPT_REGISTRY) -> Path:
    """The file whose flock(2) grades hold, shared, while they use the kept registry `name`, and
    exclusively while one of them (re)starts it."""
    return Path(tempfile.gettempdir()) / f"{name}.lock"


def _flock(fd: int, operation: int) -> bool:
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise


def find_kept(cli, *, name: str = KEPT_REGISTRY) -> tuple[object, int] | None:
    """The kept registry's container and host port when it runs and answers /v2/; else None."""
    try:
        container = cli.containers.get(name)
    except NotFound:
        return None
    except (APIError, DockerException):
        return None
    labels = container.labels or {}
    if labels.get(LABEL_TOOL) != "registry" or container.status != "running":
        return None
    bindings = (container.attrs["NetworkSettings"].get("Ports") or {}).get(REGISTRY_PORT) or []
    port = int(bindings[0]["HostPort"]) if bindings else None
    if port and _answers(f"http://127.0.0.1:{port}/v2/"):
        return container, port
    return None


def remove_kept(cli, *, name: str = KEPT_REGISTRY) -> bool:
    """Remove the kept registry `name` (its container with its storage, and its network); whether
    there was one. Raises docker.errors.APIError when the engine refuses."""
    found = False
    try:
        remove_container(cli.containers.get(name))
        found = True
    except NotFound:
        pass
    try:
        cli.networks.get(f"{name}-net").remove()
        found = True
    except NotFound:
        pass
    return found


def remove_kept_unused(cli, *, name: str = KEPT_REGISTRY) -> bool | None:
    """Remove the kept registry `name` unless a grade is using it (holds its lock): True when it was
    removed, False when there was none, None when a grade is using it (it stays). Raises
    docker.errors.APIError when the engine refuses, OSError when the lock file cannot be opened."""
    fd = os.open(lock_path(name), os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        if not _flock(fd, fcntl.LOCK_EX):
            return None
        return remove_kept(cli, name=name)
    finally:
        os.close(fd)


def _start_kept(cli, *, name: str, timeout: float) -> tuple[object, int]:
    """Start the kept registry afresh; another grade starting it at the same moment is waited for."""
    remove_kept(cli, name=name)
    try:
        container, _, port = start_registry(cli, name=name, labels=KEPT_LABELS, timeout=timeout)
        return container, port
    except ResourceError:
        found = wait.poll(lambda: find_kept(cli, name=name), timeout=timeout)  # a name taken by another grade's
        if found:
            return found
        raise


def kept_registry(ctx, *, name: str = KEPT_REGISTRY, keep_bytes: int = KEPT_KEEP_BYTES) -> LocalRegistry:
    """The machine's kept registry `name`, started when there is none, started afresh when it holds
    more than `keep_bytes` (bytes) and no other grade is using it; this run's images go under the
    folder named after the run. The run holds a shared lock (lock_path) on it until its cleanup (or
    the release of its `registry` resource), so that no other grade removes it meanwhile.
    Raises ResourceError when it cannot start or another grade holds the lock for LOCK_WAIT_S
    seconds; OSError when the lock file cannot be opened."""
    fd = os.open(lock_path(name), os.O_RDONLY | os.O_CREAT, 0o666)
    ctx.defer("release the kept registry", lambda: os.close(fd))  # closing the file drops the lock
    timeout = ctx.options.timeout("ready")
    lock_wait = min(LOCK_WAIT_S, timeout)
    if not wait.poll(lambda: _flock(fd, fcntl.LOCK_SH), timeout=lock_wait, interval=0.1):
        raise ResourceError(f"another grade held the kept registry's lock ({lock_path(name)}) for {LOCK_WAIT_S:.0f} s")
    try:
        return _take_kept(ctx, fd=fd, name=name, keep_bytes=keep_bytes, timeout=timeout)
    except BaseException:
        fcntl.flock(fd, fcntl.LOCK_UN)  # a failed start must not hold the lock for the rest of the grade
        raise


def _take_kept(ctx, *, fd: int, name: str, keep_bytes: int, timeout: float) -> LocalRegistry:
    found = find_kept(ctx.docker, name=name)
    used = registry_bytes(found[0]) if found else None
    if found is None or (used or 0) > keep_bytes:
        fcntl.flock(fd, fcntl.LOCK_UN)  # to start it, hold the lock alone, or wait for whoever does
        if wait.poll(lambda: _flock(fd, fcntl.LOCK_EX), timeout=0 if found else min(LOCK_WAIT_S, timeout), interval=0.1):
            found = find_kept(ctx.docker, name=name)
            if found is None or (registry_bytes(found[0]) or 0) > keep_bytes:
                if found:
                    ctx.event("registry", f"the kept registry held {(used or 0) // 1_000_000} MB: started afresh")
                found = _start_kept(ctx.docker, name=name, timeout=timeout)
        if not wait.poll(lambda: _flock(fd, fcntl.LOCK_SH), timeout=min(LOCK_WAIT_S, timeout), interval=0.1):
            raise ResourceError(f"another grade held the kept registry's lock ({lock_path(name)}) for {LOCK_WAIT_S:.0f} s")
        found = found or find_kept(ctx.docker, name=name)
        if found is None:
            raise ResourceError("the kept registry stopped answering while this grade waited for it")
    container, port = found
    ctx.event("registry", f"kept registry on localhost:{port}, folder {ctx.run_id}/")
    return LocalRegistry(container=container, port=port, namespace=ctx.run_id, kept=True)


def own_registry(ctx) -> LocalRegistry:
    """A throwaway registry of the run's own (start_registry), removed by the run's cleanup.
    Raises ResourceError when it cannot start."""
    container, network, port = start_registry(ctx.docker, name=ctx.name("registry"),
                                              labels=ctx.labels, timeout=ctx.options.timeout("ready"))
    ctx.defer("remove the local registry", lambda: remove_registry(container, network))
    ctx.event("registry", f"local registry on 127.0.0.1:{port}")
    return LocalRegistry(container=container, port=port)


def gone(cli, kept: LocalRegistry) -> bool:
    """Whether the kept registry a grade was given no longer answers as that same container (stopped
    or removed by hand, or started afresh meanwhile)."""
    found = find_kept(cli, name=kept.container.name) if kept.container is not None else None
    return found is None or found[0].id != kept.container.id


@provides("registry", blame="8.push-pull", depends=(), releasable=True)
def registry(ctx) -> LocalRegistry:
    """The registry 8.push-pull pushes to: with `options.registry` (a batch's), that one once it
    answers (when it does not, the run starts its own, with a warning: the batch's fault is not the
    student's); with `options.no_cache` (cold figures), a throwaway one of the run's own; else the
    machine's kept one (kept_registry), or the run's own when that cannot start."""
    if ctx.options.registry:
        host, port = parse_registry(ctx.options.registry) or ("", 0)
        try:  # it is already running: a refusal ends the wait at once
            answered = port and wait.poll(lambda: _answers(f"http://{host}:{port}/v2/", give_up=True),
                                          timeout=min(ctx.options.timeout("ready"), SHARED_WAIT_S))
        except _NothingThere:
            answered = False
        if answered:
            ctx.event("registry", f"shared registry on {host}:{port}, folder {ctx.run_id}/")
            return LocalRegistry(container=None, port=port, host=host, namespace=ctx.run_id)
        ctx.warn(f"the registry {ctx.options.registry} given with --registry does not answer /v2/: "
                 "this grade used a registry of the grader's own")
    if not ctx.options.no_cache:
        try:
            return kept_registry(ctx)
        except (ResourceError, OSError) as exc:
            log.warning("the kept registry is not available (%s): this grade starts its own",
                        getattr(exc, "message", exc))
    return own_registry(ctx)


def tag(cli, image: str, ref: str) -> None:
    """`docker tag image ref` (ref is repository:tag, the repository may carry a registry port)."""
    repository, _, version = ref.rpartition(":")
    try:
        cli.images.get(image).tag(repository, tag=version)
    except (APIError, DockerException) as exc:
        raise ResourceError(f"docker tag {image} {ref} failed: {exc}") from None


def push(cli, ref: str, *, timeout: float) -> list[str]:
    """Push `ref` (repository:tag); return the progress lines; ResourceError on error or timeout."""
    repository, _, tag = ref.rpartition(":")
    deadline = time.monotonic() + timeout
    lines = []
    try:
        for chunk in cli.api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in chunk:
                raise ResourceError(f"docker push {ref} failed: {chunk['error']}", details="\n".join(lines[-20:]))
            status = " ".join(str(chunk.get(k, "")) for k in ("id", "status") if chunk.get(k))
            if status:
                lines.append(status)
            if time.monotonic() > deadline:
                raise ResourceError(f"docker push {ref} did not finish within {timeout:.0f} s")
    except (APIError, DockerException, OSError) as exc:
        raise ResourceError(f"docker push {ref} failed: {exc}") from None
    return lines


def pull(cli, ref: str, *, timeout: float):
    """Pull `ref`; return the image; ResourceError on error or timeout."""
    repository, _, tag = ref.rpartition(":")
    deadline = time.monotonic() + timeout
    try:
        for chunk in cli.api.pull(repository, tag=tag, stream=True, decode=True):
            if "error" in chunk:
                raise ResourceError(f"docker pull {ref} failed: {chunk['error']}")
            if time.monotonic() > deadline:
                raise ResourceError(f"docker pull {ref} did not finish within {timeout:.0f} s")
        return cli.images.get(ref)
    except (APIError, DockerException, OSError) as exc:
        raise ResourceError(f"docker pull {ref} failed: {exc}") from None


def untag(cli, ref: str) -> None:
    """Remove one tag (never the image under its other tags)."""
    try:
        cli.images.remove(ref, noprune=True)
    except (NotFound, ImageNotFound):
        pass


@dataclass(frozen=True)
class Published:
    """The API image's round trip through the local registry: tag, push, untag, pull, run."""

    target: str                  # the registry reference pushed and pulled
    built_id: str
    pulled_id: str
    size_mb: float
    seconds: float               # push + pull
    answered: str | None         # what the pulled image's container answered
    run_error: ResourceError | None = None


def run_health(ctx, ref: str) -> str:
    """Run the pulled image standalone and wait for GET /health 200 from inside it; what answered."""
    container = ctx.docker.containers.run(ref, detach=True, name=ctx.name("published"), labels=ctx.labels,
                                          environment=dict(API_SERVER_ENV), **ctx.options.limits.container_kwargs())
    try:
        api = Service(container=container, role="mlapp", name="pulled image's",
                      preferred_ports=tuple(exposed_ports(container.attrs)), started=time.monotonic(),
                      deadline=ctx.deadline)
        api.answering(timeout=ctx.options.timeout("ready", capped=False))
        return f"GET /health on port {api.port} answered 200"
    finally:
        remove_container(container)


@provides("published", blame="8.push-pull", depends=("compose", "stack_images", "registry"))
def published(ctx) -> Published:
    """Push the API service's image (named by its `image:`) to the local registry, pull it back and run it."""
    model = ctx.get("compose")
    (api,) = model.require("mlapp")
    ref = model.service(api).get("image")
    name = parse_image(ref) if ref else None
    if name is None:
        raise ResourceError(f"the API service `{api}` has no usable `image:` name to publish", blame="8.tagged")
    built = ctx.get("stack_images")[api]
    registry = ctx.get("registry")
    cli, timeout, started = ctx.docker, ctx.options.timeout("push"), time.monotonic()

    def round_trip(target: str):
        ctx.defer(f"untag {target}", lambda: untag(cli, target))
        tag(cli, built.tag, target)
        push(cli, target, timeout=timeout)
        untag(cli, target)
        return pull(cli, target, timeout=timeout)

    target = registry.ref(f"{name.repository}:{name.tag or 'latest'}")
    try:
        try:
            pulled = round_trip(target)
        except (APIError, ResourceError):
            if not (registry.kept and gone(cli, registry)):
                raise
            # The grader's own tool went away mid-grade (stopped by hand): not the student's fault.
            ctx.warn("the grader's kept registry went away during the push: this grade pushed to a registry of its own")
            target = own_registry(ctx).ref(f"{name.repository}:{name.tag or 'latest'}")
            pulled = round_trip(target)
    except (APIError, ResourceError) as exc:
        raise ResourceError(f"the image did not round-trip through the registry: {getattr(exc, 'message', exc)}",
                            expected=f"docker push and docker pull of {target} to succeed") from None
    seconds = time.monotonic() - started
    size_mb = (pulled.attrs.get("Size") or 0) / 1e6
    ctx.event("publish", f"push + pull of {target} ({size_mb:.0f} MB) in {seconds:.1f} s")
    answered, error = None, None
    if pulled.id == built.id:
        try:
            answered = run_health(ctx, target)
        except ResourceError as exc:
            error = exc
        except APIError as exc:
            error = ResourceError(str(exc.explanation or exc))
    return Published(target=target, built_id=built.id, pulled_id=pulled.id, size_mb=size_mb, seconds=seconds,
                     answered=answered, run_error=error)
