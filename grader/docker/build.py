"""Image builds with the Docker SDK's classic builder: labelled, tagged per run, timed, logged."""

from __future__ import annotations

import dataclasses
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker
import urllib3
from docker.errors import APIError, DockerException, ImageNotFound
from requests.exceptions import RequestException

from grader.constants import ROLES
from grader.errors import ResourceError
from grader.parse.dockerfiles import DockerfileModel
from grader.resources import provides

log = logging.getLogger(__name__)

STEP = re.compile(r"^Step (?P<number>\d+)/(?P<total>\d+) : (?P<instruction>.*)$")
IMAGE_LINE = re.compile(r"^ ---> (?P<id>[0-9a-f]{12})$")
BUILDKIT_ONLY = re.compile(r"(--mount=|--chmod=|--link\b|--chown=\S+\s+--chmod|<<-?\s*['\"]?[A-Za-z_]+)")
EXCERPT_LINES = 40
# Appended to one source file to simulate a code change; fixed so repeated runs hit the cache.
CODE_CHANGE = "\n# mlops-grader: simulated code change (2.deps-before-code)\n"


@dataclass(frozen=True)
class BuildStep:
    number: int
    total: int            # as the student's own `docker build` counts them (grader labels excluded)
    instruction: str
    cached: bool          # "Using cache" in this build
    image_id: str | None  # the step's resulting image: equal ids mean a reused layer

    @property
    def label(self) -> str:
        text = self.instruction if len(self.instruction) <= 80 else self.instruction[:77] + "..."
        return f"step {self.number}/{self.total} `{text}`"


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    id: str
    dockerfile: str         # as given to the builder (relative to the context)
    context: Path
    seconds: float
    log: str
    steps: tuple[BuildStep, ...]
    attrs: dict = field(compare=False, repr=False)

    @property
    def size(self) -> int:
        return int(self.attrs.get("Size") or 0)

    @property
    def config(self) -> dict:
        return self.attrs.get("Config") or {}

    @property
    def layers(self) -> list[str]:
        return list((self.attrs.get("RootFS") or {}).get("Layers") or [])


class _BuildClient(docker.APIClient):
    """An API client that remembers the build's response so a watchdog can cut it off."""

    response = None

    def _stream_helper(self, response, decode=False):
        self.response = response
        return super()._stream_helper(response, decode=decode)

    def abort(self) -> None:
        try:  # shutting the socket down wakes the blocked read; the engine then cancels the build
            raw = self._get_raw_response_socket(self.response)
            getattr(raw, "_sock", raw).shutdown(socket.SHUT_RDWR)
        except Exception:  # nothing to abort, or already closed
            if self.response is not None:
                self.response.close()


def parse_steps(text: str, *, extra_steps: int = 0) -> list[BuildStep]:
    """The steps of a classic-builder log, numbered as the Dockerfile alone would number them."""
    steps: list[dict] = []
    for line in text.splitlines():
        if match := STEP.match(line):
            steps.append({"number": int(match["number"]), "total": int(match["total"]) - extra_steps,
                          "instruction": " ".join(match["instruction"].split()), "cached": False, "image_id": None})
        elif steps and line.strip() == "---> Using cache":
            steps[-1]["cached"] = True
        elif steps and (match := IMAGE_LINE.match(line)):
            steps[-1]["image_id"] = match["id"]
    return [BuildStep(**s) for s in steps if s["number"] <= s["total"]]


def renumber(text: str, extra_steps: int) -> str:
    """The log with `Step N/M` counted as the Dockerfile alone counts (without the grader's labels)."""
    def fix(match: re.Match) -> str:
        return f"Step {match['number']}/{int(match['total']) - extra_steps} : "
    return re.sub(r"^Step (?P<number>\d+)/(?P<total>\d+) : ", fix, text, flags=re.MULTILINE)


def failure_excerpt(text: str, error: str) -> tuple[str, str]:
    """(what failed, up to 40 log lines): the failing step's line, its last output, the error."""
    lines = [line for line in text.splitlines() if not line.startswith("Removing intermediate container")]
    starts = [i for i, line in enumerate(lines) if STEP.match(line)]
    if not starts:
        return "", "\n".join(lines[-(EXCERPT_LINES - 1):] + [error])
    start = starts[-1]
    output = [line for line in lines[start + 1:] if not line.startswith(" ---> Running in ")]
    keep = output[-(EXCERPT_LINES - 3):]
    excerpt = [lines[start]] + (["..."] if len(keep) < len(output) else []) + keep + [error]
    return lines[start], "\n".join(excerpt)


def _stream(ctx, *, timeout: float, **kwargs) -> tuple[str, str | None, str | None]:
    """Run one build; return (log text, error or None, image id or None)."""
    # A client of its own: its socket timeout must outlast silent steps, and the watchdog closes it.
    api = _BuildClient(timeout=int(timeout) + 60, version=ctx.docker.api.api_version,
                       **docker.utils.kwargs_from_env())
    fired = threading.Event()
    watchdog = threading.Timer(timeout, lambda: (fired.set(), api.abort()))
    chunks: list[str] = []
    error, image_id = None, None
    watchdog.start()
    try:
        for chunk in api.build(decode=True, rm=True, forcerm=True, pull=False, **kwargs):
            if "stream" in chunk:
                chunks.append(chunk["stream"])
            elif "error" in chunk:
                error = chunk["error"].strip()
            elif isinstance(chunk.get("aux"), dict) and chunk["aux"].get("ID"):
                image_id = chunk["aux"]["ID"]
    except APIError as exc:
        error = str(exc.explanation or exc)
    except (RequestException, urllib3.exceptions.HTTPError, DockerException, OSError, ValueError) as exc:
        error = f"the build was cut off: {exc}"
    finally:
        watchdog.cancel()
        api.close()
    if fired.is_set():
        error = f"the build did not finish within {timeout:.0f} s"
    return "".join(chunks), error, image_id


def build_image(ctx, *, context: Path, dockerfile: str, tag: str, what: str,
                buildargs: dict | None = None, target: str | None = None,
                cache: bool | None = None) -> BuiltImage:
    """Build and tag an image (removed at cleanup), or raise ResourceError with the log excerpt.

    `cache` None follows --no-cache; True always uses the layer cache (a rebuild compared with
    the build just made must, or every layer would differ).
    """
    if not context.is_dir():
        raise ResourceError(f"{what}: the build context {context} does not exist")
    if not (context / dockerfile).is_file():
        raise ResourceError(f"{what}: {dockerfile} is missing", expected=f"{dockerfile} in the build context")
    ctx.event("build", f"{what}: building {tag}")
    started = time.monotonic()
    text, error, image_id = _stream(
        ctx, timeout=ctx.options.timeout("build"), path=str(context), dockerfile=dockerfile, tag=tag,
        labels=ctx.labels, buildargs=buildargs or None, target=target or None,
        nocache=ctx.options.no_cache if cache is None else not cache)
    seconds = time.monotonic() - started
    if image_id and not error:
        ctx.defer(f"remove image {tag}", lambda: _untag(ctx, tag))
    if error:
        raise _build_failure(ctx, what=what, dockerfile=context / dockerfile, text=text, error=error)
    try:
        attrs = ctx.docker.images.get(tag).attrs
    except (ImageNotFound, APIError) as exc:
        raise ResourceError(f"{what}: the build reported success but {tag} is missing: {exc}") from None
    ctx.event("build", f"{what}: built in {seconds:.1f} s")
    return BuiltImage(tag=tag, id=attrs["Id"], dockerfile=dockerfile, context=context,
                      seconds=round(seconds, 1), log=text, attrs=attrs,
                      steps=tuple(parse_steps(text, extra_steps=len(ctx.labels))))


def _untag(ctx, tag: str) -> None:
    # noprune: the untagged parent layers stay behind as build cache for the next run
    try:
        ctx.docker.images.remove(tag, noprune=True)
    except ImageNotFound:
        pass


def _build_failure(ctx, *, what: str, dockerfile: Path, text: str, error: str) -> ResourceError:
    step_line, excerpt = failure_excerpt(renumber(text, len(ctx.labels)), error)
    steps = parse_steps(text, extra_steps=len(ctx.labels))
    where = steps[-1].label if steps and step_line else ""
    try:
        source = dockerfile.read_text(encoding="utf-8", errors="replace")
    except OSError:
        source = ""
    ins = DockerfileModel.from_text(source).find(steps[-1].instruction) if where else None
    where += f" (line {ins.line})" if ins else ""
    first_error = error.splitlines()[0] if error else "unknown error"
    message = f"{what}: {where} failed: {first_error}" if where else f"{what} could not be built: {first_error}"
    if where and steps[-1].instruction.upper().startswith("FROM "):
        message += " (the base image is not on this machine and could not be pulled: check its name and tag)"
    if BUILDKIT_ONLY.search(step_line) or (not where and BUILDKIT_ONLY.search(source)):
        message += (" (the grader builds with Docker's classic builder, as `DOCKER_BUILDKIT=0 docker build`"
                    " does: BuildKit-only syntax such as `RUN --mount`, `COPY --chmod` or heredocs"
                    " is not supported)")
    return ResourceError(message, details=excerpt, expected=f"{dockerfile.name} to build")


def retag(ctx, image: BuiltImage, tag: str) -> BuiltImage:
    """The same image under another per-run tag (removed at cleanup): one build, two names."""
    ctx.docker.images.get(image.id).tag(tag)
    ctx.defer(f"remove image {tag}", lambda: _untag(ctx, tag))
    return dataclasses.replace(image, tag=tag)


def build_key(context: Path, dockerfile: str, args: dict | None = None, target: str | None = None) -> tuple:
    """What makes two builds the same build: context, Dockerfile, build args and target."""
    return (str(context.resolve()), dockerfile, tuple(sorted((args or {}).items())), target or None)


def _role_image(ctx, role: str) -> BuiltImage:
    dockerfile = ROLES[role]
    return build_image(ctx, context=ctx.workdir, dockerfile=dockerfile, tag=f"{ctx.name(role)}:dockerfile",
                       what=dockerfile)


@provides("mlapp_image", blame="2.builds", depends=("mlapp_dockerfile",))
def mlapp_image(ctx) -> BuiltImage:
    return _role_image(ctx, "mlapp")


@provides("mlflow_image", blame="5.builds", depends=("mlflow_dockerfile",))
def mlflow_image(ctx) -> BuiltImage:
    return _role_image(ctx, "mlflow")


@provides("stack_images", blame="6.valid", depends=("compose",))
def stack_images(ctx) -> dict[str, BuiltImage]:
    """One image per compose service with `build:`, tagged mlops-grader-<run>-<service>."""
    compose = ctx.get("compose")
    images: dict[str, BuiltImage] = {}
    built: dict[tuple, BuiltImage] = {}  # never the same build twice in one run (issue 13)
    for service in compose.services_with_build():
        spec = compose.build(service)
        context = Path(spec["context"])
        dockerfile = str(spec.get("dockerfile") or "Dockerfile")
        if Path(dockerfile).is_absolute():
            dockerfile = str(Path(dockerfile).relative_to(context)) if Path(dockerfile).is_relative_to(context) else dockerfile
        args = {k: str(v) for k, v in (spec.get("args") or {}).items() if v is not None}
        target = spec.get("target") or None
        key = build_key(context, dockerfile, args, target)
        tag = ctx.name(service.lower())
        role = next((r for r, name in ROLES.items() if key == build_key(ctx.workdir, name)), None)
        if key not in built and role is not None:
            built[key] = ctx.get(f"{role}_image")  # the root Dockerfile's image, built once
        if key in built:
            images[service] = retag(ctx, built[key], tag)
            continue
        images[service] = built[key] = build_image(
            ctx, context=context, dockerfile=dockerfile, tag=tag, buildargs=args, target=target,
            what=f"service {service!r} ({dockerfile})")
    return images


@dataclass(frozen=True)
class Rebuild:
    changed_file: str                 # relative to the context
    before: tuple[BuildStep, ...]
    after: tuple[BuildStep, ...]
    shared_layers: int                # leading layers of the final image that are identical
    total_layers: int

    def reused(self, step: BuildStep) -> bool:
        """True if the rebuild produced the same image for this step (the layer was reused)."""
        for other in self.before:
            if other.number == step.number and other.instruction == step.instruction:
                return bool(step.image_id) and other.image_id == step.image_id
        return False


def rebuild_after_code_change(ctx, image: BuiltImage) -> Rebuild:
    """Append a fixed comment to a file under starter/src, rebuild, restore the file, compare."""
    sources = sorted((image.context / "starter" / "src").rglob("*.py"))
    if not sources:
        raise ResourceError("no Python file under starter/src to change", expected="starter/src/churn/*.py")
    target = sources[0]
    original = target.read_bytes()
    try:
        target.write_bytes(original + CODE_CHANGE.encode())
        again = build_image(ctx, context=image.context, dockerfile=image.dockerfile,
                            tag=f"{ctx.name('mlapp-codechange')}:dockerfile",
                            what=f"{image.dockerfile} after a code change", cache=True)
    finally:
        target.write_bytes(original)
    shared = 0
    for old, new in zip(image.layers, again.layers, strict=False):
        if old != new:
            break
        shared += 1
    return Rebuild(changed_file=str(target.relative_to(image.context)), before=image.steps,
                   after=again.steps, shared_layers=shared, total_layers=len(again.layers))
