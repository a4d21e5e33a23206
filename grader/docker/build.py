"""Image builds with the Docker SDK's classic builder: labelled, tagged per run, timed, logged."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import socket
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker
import urllib3
from docker.errors import APIError, DockerException, ImageNotFound
from requests.exceptions import RequestException

from grader.constants import CACHE_REPOSITORY, ROLES
from grader.docker import policy
from grader.errors import ResourceError
from grader.options import parse_size
from grader.parse.dockerfiles import DockerfileModel
from grader.resources import provides

log = logging.getLogger(__name__)

STEP = re.compile(r"^Step (?P<number>\d+)/(?P<total>\d+) : (?P<instruction>.*)$")
IMAGE_LINE = re.compile(r"^ ---> (?P<id>[0-9a-f]{12})$")
BUILDKIT_ONLY = re.compile(r"(--mount=|--chmod=|--link\b|--chown=\S+\s+--chmod|<<-?\s*['\"]?[A-Za-z_]+)")
EXCERPT_LINES = 40
# A build's output kept in memory: every `Step`/`--->` line, and the last LOG_KEEP_BYTES of the
# rest (a RUN step that prints forever costs that build, not the grader's memory).
LOG_KEEP_BYTES = 1_000_000
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
    chunks = BoundedLog(on_created=lambda image_id: record_created(ctx.scratch, image_id))
    error, image_id = None, None
    watchdog.start()
    try:
        for chunk in api.build(decode=True, rm=True, forcerm=True, pull=False, **kwargs):
            if "stream" in chunk:
                chunks.append(str(chunk["stream"]))
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
    return chunks.text(), error, image_id


class BoundedLog:
    """Build output with a memory bound: every structure line (`Step N/M : ...`, ` ---> ...`)
    kept, the other output only its last `keep` bytes (LOG_KEEP_BYTES); one line says what was
    dropped, right after the Step line whose output was cut."""

    def __init__(self, keep: int = LOG_KEEP_BYTES, *, on_created: Callable[[str], None] | None = None):
        self.keep = keep
        self.lines: list[str] = []
        self.partial = ""
        self.other_bytes = 0
        self.dropped = 0
        self.on_created = on_created      # called with each image id a step makes (not a cache hit)
        self._step_reuses = True          # the current step makes no image: FROM, or "Using cache"

    @staticmethod
    def structural(line: str) -> bool:
        return bool(STEP.match(line)) or line.startswith(" ---> ")

    def append(self, text: str) -> None:
        *complete, self.partial = (self.partial + text).split("\n")
        if len(self.partial) > self.keep:  # one endless line
            self.dropped += len(self.partial) - self.keep
            self.partial = self.partial[-self.keep:]
        for line in complete:
            self.lines.append(line)
            if not self.structural(line):
                self.other_bytes += len(line) + 1
            elif match := STEP.match(line):
                self._step_reuses = match["instruction"].upper().startswith("FROM ")
            elif line.strip() == "---> Using cache":
                self._step_reuses = True
            elif (match := IMAGE_LINE.match(line)) and not self._step_reuses and self.on_created:
                self.on_created(match["id"])
        if self.other_bytes > 2 * self.keep:
            self._compact()

    def _compact(self) -> None:
        budget, kept = self.keep, []
        for line in reversed(self.lines):
            if self.structural(line):
                kept.append(line)
            elif budget > 0:
                kept.append(line)
                budget -= len(line) + 1
            else:
                self.dropped += len(line) + 1
        self.lines = kept[::-1]
        self.other_bytes = self.keep - budget

    def text(self) -> str:
        lines = self.lines + ([self.partial] if self.partial else [])
        if self.dropped:
            last_step = next((i for i in range(len(lines) - 1, -1, -1) if STEP.match(lines[i])), -1)
            lines = (lines[:last_step + 1] + [f"... ({self.dropped} bytes of build output dropped by the grader)"]
                     + lines[last_step + 1:])
        return "".join(line + "\n" for line in lines)


# The engine's words when an image the build had just taken from the layer cache is removed before
# the build is done with it: another grade (batch --jobs N, the kit's parallel suite) removing its
# own images or trimming the shared cache at that moment. Nothing is wrong with the Dockerfile, and
# building again makes the missing layers anew (seen in the kit's CI: "failed to get digest sha256:
# ...: open /var/lib/docker/image/overlay2/imagedb/content/sha256/...: no such file or directory").
CACHE_RACE = re.compile(r"failed to get digest sha256:[0-9a-f]+|No such image: sha256:[0-9a-f]+"
                        r"|layer does not exist", re.IGNORECASE)


def lost_to_a_concurrent_removal(error: str | None) -> bool:
    """Whether a build's error is the engine losing a cached image mid-build (CACHE_RACE), which one
    more build repairs, rather than a fault of the Dockerfile."""
    return bool(error) and bool(CACHE_RACE.search(error))


def build_image(ctx, *, context: Path, dockerfile: str, tag: str, what: str,
                buildargs: dict | None = None, target: str | None = None,
                cache: bool | None = None, labels: dict | None = None, keep: bool = False) -> BuiltImage:
    """Build and tag an image (removed at cleanup), or raise ResourceError with the log excerpt.

    `dockerfile` is relative to `context`, or an absolute path outside it (sent with the context).
    `cache` None follows --no-cache; True always uses the layer cache (a rebuild compared with
    the build just made must, or every layer would differ). `labels` default to the run's labels;
    `keep` leaves the tag after the run (a grader tool image, labelled without a run id). A build
    that loses a cached image to another grade's removal mid-build (CACHE_RACE) is built once more.
    """
    if not context.is_dir():
        raise ResourceError(f"{what}: the build context {context} does not exist")
    if not (context / dockerfile).is_file():
        raise ResourceError(f"{what}: {dockerfile} is missing", expected=f"{dockerfile} in the build context")
    labels = ctx.labels if labels is None else labels
    ctx.event("build", f"{what}: building {tag}")
    started = time.monotonic()
    for attempt in (1, 2):   # a second build only when the first lost a cached image (CACHE_RACE)
        text, error, image_id = _stream(
            ctx, timeout=ctx.options.timeout("build"), path=str(context), dockerfile=dockerfile, tag=tag,
            labels=labels, buildargs=buildargs or None, target=target or None,
            nocache=ctx.options.no_cache if cache is None else not cache)
        if attempt == 2 or not lost_to_a_concurrent_removal(error):
            break
        log.info("%s: %s", what, error)
        ctx.event("build", f"{what}: a cached layer was removed during the build (by another grade "
                           "on this engine): building again")
    seconds = time.monotonic() - started
    _trim_at_cleanup(ctx)  # registered before the image's removal below, so it runs after it
    keep_as_cache(ctx.docker, parse_steps(text, extra_steps=len(labels)))
    if image_id and not error and not keep:
        ctx.defer(f"remove image {tag}", lambda: _untag(ctx, tag))
    if error:
        raise _build_failure(ctx, what=what, dockerfile=context / dockerfile, text=text, error=error,
                             extra_steps=len(labels))
    try:
        attrs = ctx.docker.images.get(tag).attrs
    except (ImageNotFound, APIError) as exc:
        raise ResourceError(f"{what}: the build reported success but {tag} is missing: {exc}") from None
    ctx.event("build", f"{what}: built in {seconds:.1f} s")
    return BuiltImage(tag=tag, id=attrs["Id"], dockerfile=dockerfile, context=context,
                      seconds=round(seconds, 1), log=text, attrs=attrs,
                      steps=tuple(parse_steps(text, extra_steps=len(labels))))


def _untag(ctx, tag: str) -> None:
    # Pruning stops at the cache tags (keep_as_cache): only the run's own label steps go.
    try:
        ctx.docker.images.remove(tag)
    except ImageNotFound:
        pass


# -- images a killed run made ---------------------------------------------------------------------
# A build's intermediate images carry no label (the grader's labels come with its last steps), so
# a grader killed mid-build could not find them again: each image a step makes is written down in
# the run's scratch directory as it is made, and `cleanup --run` removes those nothing kept.
CREATED_IMAGES = "created-images.txt"


def record_created(scratch: Path, image_id: str) -> None:
    """Write down an image a build step made (one id a line, in `scratch`/CREATED_IMAGES)."""
    try:
        with open(scratch / CREATED_IMAGES, "a", encoding="utf-8") as record:
            record.write(image_id + "\n")
    except OSError as exc:  # a scratch directory removed meanwhile: nothing to remember
        log.info("cannot record image %s: %s", image_id, exc)


def created_images(scratch: Path) -> list[str]:
    """The image ids record_created wrote down in `scratch` (none when there is no record)."""
    try:
        return (scratch / CREATED_IMAGES).read_text(encoding="utf-8").split()
    except OSError:
        return []


def remove_unkept(cli, image_ids: list[str]) -> list[str]:
    """Remove the images among `image_ids` that nothing keeps (no tag, no child image): what a
    killed build left. Images the cache or anything else holds stay. Returns the ids removed."""
    images = cli.api.images(all=True)
    parents = {i.get("ParentId") for i in images}
    removed = []
    for image in images:
        short = image["Id"].removeprefix("sha256:")[:12]
        tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
        if short in image_ids and not tags and image["Id"] not in parents:
            try:
                cli.images.remove(image["Id"])  # and its own untagged parents, as far as nothing else needs them
                removed.append(short)
            except (APIError, DockerException) as exc:
                log.info("cannot remove %s: %s", short, exc)
    return removed


# -- the build cache -------------------------------------------------------------------------------
# The classic builder's cache is the chain of images each step made. A grade keeps the last image
# of every stage it built under CACHE_REPOSITORY:<image id> (its chain stays: the next build of the
# same Dockerfile reuses it) and removes the rest; `trim_cache` then removes the least recently
# used tags until the images only the cache holds fit in --keep-storage (Options.keep_storage).
_TRIM_PENDING: weakref.WeakSet = weakref.WeakSet()
_TRIM_LOCK = threading.Lock()


def cache_tips(steps: list[BuildStep]) -> list[str]:
    """Image ids to keep as cache: the last step of each stage of a build (not a bare FROM)."""
    tips = []
    for i, step in enumerate(steps):
        last_of_stage = i + 1 == len(steps) or steps[i + 1].instruction.upper().startswith("FROM ")
        if last_of_stage and step.image_id and not step.instruction.upper().startswith("FROM "):
            tips.append(step.image_id)
    return tips


def keep_as_cache(cli, steps: list[BuildStep], *, repository: str = CACHE_REPOSITORY) -> list[str]:
    """Tag a build's stage tips <repository>:<id> (a tag already there is refreshed: it counts
    as used now); the tags. Also after a failed build: the steps it finished are cache too.
    Never raises: an image already gone is simply not kept."""
    tagged = []
    for image_id in cache_tips(steps):
        try:
            cli.api.tag(image_id, repository, image_id[:12])
            tagged.append(f"{repository}:{image_id[:12]}")
        except (APIError, DockerException, OSError) as exc:
            log.info("cannot keep %s as cache: %s", image_id, exc)
    return tagged


@dataclass(frozen=True)
class CacheEntry:
    """One kept stage tip: its cache tag, image id (sha256:...) and when a build last made or hit it."""

    tag: str
    image_id: str
    last_used: str       # the engine's Metadata.LastTagTime: when a build last made or hit it


@dataclass(frozen=True)
class CacheUsage:
    """The build cache as cache_usage measured it."""

    entries: tuple[CacheEntry, ...]   # least recently used first
    bytes: int                        # disk the cache alone holds (images no other tag keeps)


def cache_usage(cli, *, repository: str = CACHE_REPOSITORY) -> CacheUsage:
    """The build cache: its tags, least recently used first, and the bytes (not MB) of the image
    chains only it holds: each image's own layer (its Size minus its parent's) counted once, the
    walk stopping at an image tagged outside the cache (a base image, a run's own tag)."""
    images = {i["Id"]: i for i in cli.api.images(all=True)}
    prefix = f"{repository}:"
    entries = []
    for image in images.values():
        for tag in image.get("RepoTags") or []:
            if tag.startswith(prefix):
                try:
                    last = (cli.api.inspect_image(image["Id"]).get("Metadata") or {}).get("LastTagTime") or ""
                except (APIError, DockerException):
                    continue  # removed meanwhile
                entries.append(CacheEntry(tag=tag, image_id=image["Id"], last_used=last))
    held: set[str] = set()
    total = 0
    for entry in entries:
        current = images.get(entry.image_id)
        while current is not None and current["Id"] not in held:
            tags = [t for t in current.get("RepoTags") or [] if t != "<none>:<none>"]
            if any(not t.startswith(prefix) for t in tags):
                break
            held.add(current["Id"])
            parent = images.get(current.get("ParentId") or "")
            total += max(int(current.get("Size") or 0) - int((parent or {}).get("Size") or 0), 0)
            current = parent
    entries.sort(key=lambda e: _when(e.last_used))
    return CacheUsage(entries=tuple(entries), bytes=total)


def _when(stamp: str) -> dt.datetime:
    """The engine's timestamps (`2026-11-30T17:58:40.264645238Z`) as naive UTC datetimes."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    try:
        return dt.datetime.fromisoformat(f"{head.replace(' ', 'T')}.{(frac + '000000')[:6]}")
    except ValueError:
        return dt.datetime.min


def trim_cache(cli, *, keep_bytes: int, repository: str = CACHE_REPOSITORY) -> list[str]:
    """Remove the least recently used cache tags until the cache holds at most `keep_bytes` bytes
    (untagging prunes the chain's images that no other tag or image needs); the tags removed.
    An entry in use (a container of it, a build on it) is skipped."""
    removed = []
    usage = cache_usage(cli, repository=repository)
    for entry in usage.entries:
        if usage.bytes <= keep_bytes:
            break
        try:
            cli.images.remove(entry.tag)
        except (APIError, DockerException) as exc:
            log.info("cannot remove %s from the cache: %s", entry.tag, exc)
            continue
        removed.append(entry.tag)
        usage = cache_usage(cli, repository=repository)
    return removed


def _trim_at_cleanup(ctx) -> None:
    """Once per run (registered before the run's images' removal, so it runs after it): trim the
    cache to the run's --keep-storage."""
    with _TRIM_LOCK:  # builds of one run go side by side (grader.context prefetch)
        if ctx in _TRIM_PENDING:
            return
        _TRIM_PENDING.add(ctx)
    limit = parse_size(ctx.options.keep_storage)

    def trim() -> None:
        removed = trim_cache(ctx.docker, keep_bytes=limit)
        if removed:
            ctx.event("teardown", f"build cache over {ctx.options.keep_storage}: removed the "
                                  f"{len(removed)} least recently used entries")

    ctx.defer("trim the build cache", trim)


def _build_failure(ctx, *, what: str, dockerfile: Path, text: str, error: str, extra_steps: int) -> ResourceError:
    step_line, excerpt = failure_excerpt(renumber(text, extra_steps), error)
    steps = parse_steps(text, extra_steps=extra_steps)
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
    # Nothing is built from a project the grader would not start (build contexts outside it ...).
    policy.enforce(compose, instructor=ctx.options.instructor, blame="7.stack-healthy", warn=ctx.warn)
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
