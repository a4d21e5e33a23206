"""Builds: log parsing (pure), and real classic-builder builds, failures, timeouts and cleanup."""

from __future__ import annotations

import time
import uuid

import pytest
from docker.errors import ImageNotFound

from grader.constants import CACHE_REPOSITORY, LABEL_GRADER, LABEL_RUN
from grader.docker import build
from grader.docker.build import (
    CODE_CHANGE,
    BoundedLog,
    build_image,
    cache_tips,
    cache_usage,
    failure_excerpt,
    keep_as_cache,
    parse_steps,
    rebuild_after_code_change,
    renumber,
    trim_cache,
)
from grader.errors import ResourceError
from tests.grader.dockerkit import BASE, leftovers, make_context, make_submission

LOG = """\
Step 1/5 : FROM python:3.11-slim-bookworm
 ---> dcc8ff5e733c
Step 2/5 : RUN   pip install \\
 ---> Using cache
 ---> 94a9ad7dd744
Step 3/5 : COPY f /f
 ---> 3f49c74efa08
Step 4/5 : LABEL org.mlops-kit.grader=1
 ---> Running in 5af62f73c3d1
Removing intermediate container 5af62f73c3d1
 ---> 2338572f0065
Step 5/5 : LABEL org.mlops-kit.grader.run=x
 ---> 3bf1f7f6dd60
"""


def test_parse_steps_hides_the_graders_label_steps():
    steps = parse_steps(LOG, extra_steps=2)
    assert [(s.number, s.total, s.cached, s.image_id) for s in steps] == [
        (1, 3, False, "dcc8ff5e733c"), (2, 3, True, "94a9ad7dd744"), (3, 3, False, "3f49c74efa08")]
    assert steps[1].instruction == "RUN pip install \\"
    assert steps[2].label == "step 3/3 `COPY f /f`"
    assert renumber(LOG, 2).startswith("Step 1/3 : FROM")


def test_cache_tips_are_the_last_step_of_each_stage():
    log = ("Step 1/6 : FROM base AS builder\n ---> aaaaaaaaaaaa\nStep 2/6 : RUN pip install x\n ---> bbbbbbbbbbbb\n"
           "Step 3/6 : FROM base\n ---> aaaaaaaaaaaa\nStep 4/6 : COPY --from=builder /x /x\n ---> cccccccccccc\n"
           "Step 5/6 : FROM scratch AS unused\n ---> dddddddddddd\n"
           "Step 6/6 : LABEL org.mlops-kit.grader=1\n ---> eeeeeeeeeeee\n")
    # the builder's tip and the final stage's last Dockerfile step; not a bare FROM, not the label steps
    assert cache_tips(parse_steps(log, extra_steps=1)) == ["bbbbbbbbbbbb", "cccccccccccc"]


def test_a_flooding_build_step_costs_the_build_not_the_graders_memory():
    log = BoundedLog(keep=10_000)
    log.append("Step 1/2 : FROM x\n ---> aaaaaaaaaaaa\nStep 2/2 : RUN yes\n ---> Running in 123\n")
    for _ in range(5000):
        log.append("y\n" * 100)       # 1 MB of output in all
    log.append("x" * 50_000)          # and one endless line
    log.append("\nThe command returned a non-zero code: 1\n")
    text = log.text()
    assert len(text) < 40_000
    assert text.startswith("Step 1/2 : FROM x\n ---> aaaaaaaaaaaa\nStep 2/2 : RUN yes\n")
    assert "bytes of build output dropped by the grader" in text.splitlines()[3]
    assert text.endswith("The command returned a non-zero code: 1\n")
    assert [s.number for s in parse_steps(text)] == [1, 2]


def test_failure_excerpt_keeps_the_step_line_and_the_last_output():
    text = "Step 1/2 : FROM x\n ---> abc\nStep 2/2 : RUN make\n ---> Running in 1234\n" + "".join(
        f"line {i}\n" for i in range(200))
    step, excerpt = failure_excerpt(text, "The command '/bin/sh -c make' returned a non-zero code: 2")
    lines = excerpt.splitlines()
    assert step == "Step 2/2 : RUN make"
    assert len(lines) <= 40 and lines[0] == step and lines[1] == "..."
    assert lines[-2] == "line 199" and lines[-1].endswith("non-zero code: 2")
    assert not any("Running in" in line for line in lines)


def _context(tmp_path, dockerfile: str, *, build: float = 300):
    ctx = make_context(tmp_path, build=build)
    ctx.workdir.mkdir(parents=True)
    (ctx.workdir / "Dockerfile.mlapp").write_text(dockerfile)
    return ctx


def _build(ctx, tag: str = "x"):
    return build_image(ctx, context=ctx.workdir, dockerfile="Dockerfile.mlapp", tag=ctx.name(tag),
                       what="Dockerfile.mlapp")


@pytest.mark.docker
def test_build_labels_times_and_cleanup_keeps_the_cache(tmp_path, docker_client):
    dockerfile = f'FROM {BASE}\nRUN echo grader-test-cache > /marker\nCMD ["python"]\n'
    ctx = _context(tmp_path / "a", dockerfile)
    image = _build(ctx)
    labels = docker_client.images.get(image.tag).labels
    assert labels[LABEL_GRADER] == "1" and labels[LABEL_RUN] == ctx.run_id
    assert [s.number for s in image.steps] == [1, 2, 3] and image.steps[0].total == 3
    assert image.seconds >= 0 and image.size > 0 and "Successfully built" in image.log
    assert ctx.close() == [] and leftovers(docker_client, ctx.run_id) == []
    again = _context(tmp_path / "b", dockerfile)  # a second run of identical content hits the cache
    try:
        assert _build(again).steps[1].cached
    finally:
        again.close()


RACE = ("failed to get digest sha256:fc68c0a12194bad43659129ac88526bf8ad3ef60ef3c285756245afbfe5f6bb9: open "
        "/var/lib/docker/image/overlay2/imagedb/content/sha256/fc68c0a12194bad43659129ac88526bf8ad3ef60ef3c285756245afbfe5f6bb9: "
        "no such file or directory")   # the kit's CI, a corpus grade beside others on one engine


def test_only_a_cached_image_lost_mid_build_counts_as_a_race():
    assert build.lost_to_a_concurrent_removal(RACE)
    assert build.lost_to_a_concurrent_removal("No such image: sha256:0123abcd")
    assert not build.lost_to_a_concurrent_removal("The command '/bin/sh -c exit 7' returned a non-zero code: 7")
    assert not build.lost_to_a_concurrent_removal("COPY failed: file not found in build context")
    assert not build.lost_to_a_concurrent_removal(None)


@pytest.mark.docker
def test_a_build_that_lost_a_cached_image_is_built_again(tmp_path, docker_client, monkeypatch):
    """The engine's race (another grade removing an image this build took from the cache) is not the
    student's fault: the grader builds once more, for real, and says so."""
    real, calls = build._stream, []

    def first_loses_a_layer(ctx, **kwargs):
        calls.append(kwargs["tag"])
        return ("Step 1/2 : FROM x\n", RACE, None) if len(calls) == 1 else real(ctx, **kwargs)

    monkeypatch.setattr(build, "_stream", first_loses_a_layer)
    events = []
    ctx = _context(tmp_path, f'FROM {BASE}\nCMD ["python"]\n')
    monkeypatch.setattr(ctx, "event", lambda kind, text: events.append((kind, text)))
    try:
        image = _build(ctx)
        assert len(calls) == 2 and docker_client.images.get(image.tag).id == image.id
        assert any("building again" in text for _, text in events), events
    finally:
        ctx.close()
    assert leftovers(docker_client, ctx.run_id) == []


@pytest.mark.docker
def test_failed_run_names_the_step_and_line(tmp_path, docker_client):
    ctx = _context(tmp_path, f'FROM {BASE}\nRUN for i in $(seq 1 100); do echo out-$i; done; '
                             f'echo "ERROR: no such package"; exit 7\n')
    try:
        with pytest.raises(ResourceError) as caught:
            _build(ctx)
    finally:
        ctx.close()
    error = caught.value
    assert error.message.startswith("Dockerfile.mlapp: step 2/2 `RUN for i in")
    assert "(line 2) failed: The command" in error.message and "non-zero code: 7" in error.message
    lines = error.details.splitlines()
    assert len(lines) <= 40 and lines[0].startswith("Step 2/2 : RUN") and "ERROR: no such package" in lines
    assert leftovers(docker_client, ctx.run_id) == []


@pytest.mark.docker
def test_syntax_error_and_buildkit_syntax(tmp_path):
    ctx = _context(tmp_path, f"FROM {BASE}\nRUNN echo hi\n")
    try:
        with pytest.raises(ResourceError, match="could not be built: dockerfile parse error line 2: unknown instruction: RUNN"):
            _build(ctx)
        (ctx.workdir / "Dockerfile.mlapp").write_text(f"FROM {BASE}\nRUN --mount=type=cache,target=/root/.cache pip list\n")
        with pytest.raises(ResourceError, match=r"step 2/2 .*--mount.*classic builder"):
            _build(ctx, "y")
    finally:
        ctx.close()


@pytest.mark.docker
def test_build_timeout_cuts_the_build_off(tmp_path, docker_client):
    ctx = _context(tmp_path, f"FROM {BASE}\nRUN sleep 40 && echo grader-timeout-test\n", build=3)
    started = time.monotonic()
    try:
        limit = 3 * ctx.options.timeout_scale     # GRADER_TIMEOUT_SCALE stretches it (make test: x2)
        with pytest.raises(ResourceError, match=f"did not finish within {limit:.0f} s"):
            _build(ctx)
    finally:
        ctx.close()
    assert time.monotonic() - started < 15 * ctx.options.timeout_scale
    time.sleep(2)  # the engine cancels the build once the client is gone
    running = [c for c in docker_client.containers.list(all=True) if "grader-timeout-test" in str(c.attrs["Args"])]
    assert running == []


@pytest.mark.docker
@pytest.mark.parametrize(("order", "reused"), [("deps-first", True), ("code-first", False)])
def test_rebuild_after_code_change(tmp_path, order, reused):
    install = "RUN pip install --no-index --no-deps pip\n"
    code = "COPY starter/src /src\n"
    body = install + code if order == "deps-first" else code + install
    ctx = _context(tmp_path, f"FROM {BASE}\n{body}")
    source = ctx.workdir / "starter" / "src" / "pkg" / "a.py"
    source.parent.mkdir(parents=True)
    source.write_text("x = 1\n")
    try:
        rebuild = rebuild_after_code_change(ctx, _build(ctx))
    finally:
        ctx.close()
    step = next(s for s in rebuild.after if s.instruction.startswith("RUN pip"))
    assert rebuild.reused(step) is reused
    assert rebuild.changed_file == "starter/src/pkg/a.py"
    assert source.read_text() == "x = 1\n" and CODE_CHANGE.strip().startswith("#")


@pytest.mark.docker
def test_stack_images_share_the_role_builds(tmp_path, docker_client):
    ctx = make_context(tmp_path)
    make_submission(ctx.workdir, {})
    try:
        images = ctx.get("stack_images")
        mlapp = ctx.get("mlapp_image")
        compose = ctx.get("compose")
        assert images[compose.mlapp].id == mlapp.id  # identical build: built once, tagged twice
        assert images[compose.mlflow].tag == ctx.name(compose.mlflow)
        assert docker_client.images.get(ctx.name(compose.mlapp)).id == mlapp.id
    finally:
        assert ctx.close() == []
    assert leftovers(docker_client, ctx.run_id) == []


@pytest.mark.docker
def test_a_grade_keeps_only_its_stage_tips_as_cache(tmp_path, docker_client):
    marker = uuid.uuid4().hex  # content no earlier build has: every step is new
    dockerfile = (f"FROM {BASE} AS builder\nRUN echo {marker} > /built\n"
                  f"FROM {BASE}\nCOPY --from=builder /built /built\nRUN echo {marker}-final > /final\n")
    ctx = _context(tmp_path, dockerfile)
    image = _build(ctx)
    made = [s.image_id for s in image.steps if not s.instruction.startswith("FROM")]
    tips = cache_tips(list(image.steps))
    assert len(tips) == 2 and tips[-1] == made[-1]
    assert ctx.close() == [] and leftovers(docker_client, ctx.run_id) == []
    try:
        for tip in tips:  # kept, under the cache's name, with the chain below it
            assert f"{CACHE_REPOSITORY}:{tip}" in docker_client.images.get(tip).tags
        for image_id in made:
            docker_client.images.get(image_id)
        children = [i for i in docker_client.api.images(all=True) if i.get("ParentId", "").startswith(f"sha256:{tips[-1]}")]
        assert children == [], "the run's label steps stayed behind"
    finally:
        for tip in tips:
            docker_client.images.remove(f"{CACHE_REPOSITORY}:{tip}")
    for image_id in made:  # removing the cache tags removes the whole chain
        with pytest.raises(ImageNotFound):
            docker_client.images.get(image_id)


def _cached_build(docker_client, repository: str, directory) -> str:
    """A 20 MiB layer of its own on the base image, kept as cache under `repository`; its tag."""
    directory.mkdir()
    (directory / "Dockerfile").write_text(f"FROM {BASE}\nRUN head -c 20m /dev/urandom > /blob-{uuid.uuid4().hex}\n")
    text = "".join(chunk.get("stream", "") for chunk in
                   docker_client.api.build(path=str(directory), rm=True, forcerm=True, decode=True))
    [tag] = keep_as_cache(docker_client, parse_steps(text), repository=repository)
    return tag


@pytest.mark.docker
def test_the_cache_is_trimmed_least_recently_used_first(tmp_path, docker_client):
    repository = f"mlops-grader-test-cache-{uuid.uuid4().hex[:8]}"  # not the real cache: others use it
    try:
        first, second, third = (_cached_build(docker_client, repository, tmp_path / str(i)) for i in range(3))
        usage = cache_usage(docker_client, repository=repository)
        assert [e.tag for e in usage.entries] == [first, second, third]
        assert 60e6 < usage.bytes < 70e6  # three 20 MiB layers, the base image not counted
        keep_as_cache(docker_client, parse_steps(f"Step 1/1 : RUN x\n ---> {first.split(':')[1]}\n"),
                      repository=repository)  # a build hits `first` again: it is the most recent now
        removed = trim_cache(docker_client, keep_bytes=45_000_000, repository=repository)
        assert removed == [second]  # the least recently used; 40 MiB are left, under the cap
        left = cache_usage(docker_client, repository=repository)
        assert [e.tag for e in left.entries] == [third, first] and left.bytes <= 45_000_000
    finally:
        trim_cache(docker_client, keep_bytes=-1, repository=repository)
    assert cache_usage(docker_client, repository=repository).entries == ()
