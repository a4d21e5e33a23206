"""Context pieces that are pure data: limits as Docker SDK and compose arguments, the time budget."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from grader.context import Context
from grader.docker.service import Service
from grader.options import LOG_FILE_SIZE, Limits, Options, Timeouts, parse_size

BOUNDED_LOGS = {"log_config": {"type": "json-file", "config": {"max-size": LOG_FILE_SIZE, "max-file": "2"}}}


def test_limits_as_container_kwargs():
    assert Limits().container_kwargs() == BOUNDED_LOGS
    assert Limits(memory="1g", cpus=1.5, pids=256).container_kwargs() == {
        "mem_limit": "1g", "memswap_limit": "1g", "nano_cpus": 1_500_000_000, "pids_limit": 256, **BOUNDED_LOGS}


def test_limits_as_compose_deploy_limits():
    assert Limits().compose_limits() == {}
    assert Limits(memory="512m", cpus=0.5).compose_limits() == {"memory": "512m", "cpus": "0.5"}


def test_instructor_defaults_are_all_on():
    limits = Limits.defaults()
    assert limits.any and None not in (limits.memory, limits.cpus, limits.pids, limits.build)
    assert not Limits().any


@pytest.mark.parametrize(("text", "size"), [("512m", 512 * 2**20), ("2g", 2 * 2**30), ("1.5g", int(1.5 * 2**30)),
                                            ("100", 100), ("64MiB", 64 * 2**20), (4096, 4096)])
def test_docker_sizes(text, size):
    assert parse_size(text) == size


def test_a_size_that_is_not_one():
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


def test_the_build_limit_caps_the_build_timeout():
    assert Options(submission=Path("."), limits=Limits(build=60)).timeout("build") == 60
    assert Options(submission=Path("."), timeout_scale=2).timeout("build") == 1800


def test_every_timeout_ends_by_the_deadline():
    options = Options(submission=Path("."), timeouts=Timeouts(ready=120), deadline=time.monotonic() + 5)
    assert 4 < options.timeout("ready") <= 5
    late = Options(submission=Path("."), deadline=time.monotonic() - 1)
    assert late.timeout("stack_up") == 0 and late.remaining() == 0
    assert Options(submission=Path(".")).remaining() is None


def test_an_uncapped_timeout_ignores_the_deadline():
    options = Options(submission=Path("."), timeouts=Timeouts(ready=120), timeout_scale=1,
                      deadline=time.monotonic() + 5)
    assert options.timeout("ready", capped=False) == 120


def test_a_service_wait_counts_from_its_start_and_ends_by_the_deadline():
    """A wait of T seconds counted from the container's start ends at start + T, or at the run's
    deadline when that comes first: never earlier (a budget cap counted from the start would end it
    before the deadline, and the check would read as the student's failure)."""
    now = time.monotonic()
    started_earlier = Service(container=None, role="mlapp", name="mlapp", started=now - 30, deadline=now + 5)
    assert 4 < started_earlier._remaining(120) <= 5          # the deadline comes first
    assert started_earlier._remaining(20) == 0                 # start + 20 s has passed
    no_budget = Service(container=None, role="mlapp", name="mlapp", started=now - 30)
    assert 89 < no_budget._remaining(120) <= 90
    spent = Service(container=None, role="mlapp", name="mlapp", started=now, deadline=now - 1)
    assert spent._remaining(120) == 0


def test_context_deadline_and_warnings(tmp_path):
    events = []
    ctx = Context(options=Options(submission=tmp_path, deadline=time.monotonic() - 1), run_id=uuid.uuid4().hex[:10],
                  workdir=tmp_path, scratch=tmp_path, on_event=lambda kind, text: events.append(kind))
    assert ctx.expired()
    ctx.warn("a note")
    ctx.warn("a note")
    assert ctx.warnings == ["a note"] and events == ["warning"]


def test_timeout_scale_defaults_from_the_environment(monkeypatch):
    from grader.options import TIMEOUT_SCALE_ENV, default_timeout_scale

    monkeypatch.delenv(TIMEOUT_SCALE_ENV, raising=False)
    assert default_timeout_scale() == 1.0
    monkeypatch.setenv(TIMEOUT_SCALE_ENV, "2")
    assert Options(submission=Path(".")).timeout("exec") == 60
    for bad in ("zero", "0", "-1"):
        monkeypatch.setenv(TIMEOUT_SCALE_ENV, bad)
        assert default_timeout_scale() == 1.0


def test_release_runs_a_resources_own_cleanups_now_and_close_the_rest(tmp_path, monkeypatch):
    """Cleanups registered while a resource is made belong to it (not to what it is made from);
    release() runs them once, in the background, before close() runs the others; a released resource
    asked for again is a grader bug, not the student's failure."""
    from grader import resources

    ran = []

    def make_base(ctx):
        ctx.defer("remove base", lambda: ran.append("base"))
        return "base"

    def make_thing(ctx):
        ctx.defer("remove thing's volume", lambda: ran.append("volume"))
        ctx.defer("remove thing", lambda: ran.append("thing"))
        return "thing"

    monkeypatch.setitem(resources._PROVIDERS, "fake_base", resources.Provider(
        name="fake_base", make=make_base, blame=None, engine=False, depends=()))
    monkeypatch.setitem(resources._PROVIDERS, "fake_thing", resources.Provider(
        name="fake_thing", make=make_thing, blame=None, engine=False, depends=("fake_base",), releasable=True))
    ctx = Context(options=Options(submission=tmp_path), run_id=uuid.uuid4().hex[:10], workdir=tmp_path,
                  scratch=tmp_path)
    assert ctx.get("fake_thing") == "thing" and ctx.made("fake_thing") and ctx.made("fake_base")
    ctx.defer("a check's own cleanup", lambda: ran.append("check"))
    assert ctx.release(["fake_thing", "fake_base", "never_made"]) == ["fake_base", "fake_thing"]
    assert ctx.release(["fake_thing"]) == []            # once
    with pytest.raises(RuntimeError, match="grader bug"):
        ctx.get("fake_thing")
    assert ctx.close() == []
    assert ran[:3] == ["thing", "volume", "base"] and ran[3:] == ["check"]


def test_nothing_is_released_with_keep(tmp_path, monkeypatch):
    from grader import resources

    monkeypatch.setitem(resources._PROVIDERS, "fake_thing", resources.Provider(
        name="fake_thing", make=lambda ctx: "thing", blame=None, engine=False, depends=(), releasable=True))
    ctx = Context(options=Options(submission=tmp_path, keep=True), run_id=uuid.uuid4().hex[:10],
                  workdir=tmp_path, scratch=tmp_path)
    ctx.get("fake_thing")
    assert ctx.release(["fake_thing"]) == [] and ctx.get("fake_thing") == "thing"


def test_a_release_cut_short_before_its_thread_ran_is_finished_by_close(tmp_path, monkeypatch):
    """Cleanups a release moved out of the run's list are never lost: if its thread never runs
    (an interrupt right after the move), close() runs them itself, once."""
    import grader.context as context_module
    from grader import resources

    ran = []

    def make_thing(ctx):
        ctx.defer("remove thing", lambda: ran.append("thing"))
        return "thing"

    monkeypatch.setitem(resources._PROVIDERS, "fake_thing", resources.Provider(
        name="fake_thing", make=make_thing, blame=None, engine=False, depends=(), releasable=True))
    ctx = Context(options=Options(submission=tmp_path), run_id=uuid.uuid4().hex[:10], workdir=tmp_path,
                  scratch=tmp_path)
    ctx.get("fake_thing")

    class NeverStarts(context_module.threading.Thread):
        def start(self):
            pass

    monkeypatch.setattr(context_module.threading, "Thread", NeverStarts)
    assert ctx.release(["fake_thing"]) == ["fake_thing"] and ran == []
    assert ctx.close() == [] and ran == ["thing"]


def test_two_releases_at_once_each_keep_their_own_order(tmp_path, monkeypatch):
    """Each release runs its own cleanups, last in first out, in its own thread: a second release
    started while the first is still removing never takes the first one's next step (a newcomer saw
    the standalone MLflow volume removed while its container was still going: "409 volume is in use")."""
    import threading as real_threading

    from grader import resources

    ran = []
    first_started, second_done = real_threading.Event(), real_threading.Event()

    def make_slow(ctx):
        ctx.defer("remove slow volume", lambda: ran.append(("volume", second_done.is_set())))

        def remove_container():
            first_started.set()
            second_done.wait(5)  # the second release runs meanwhile
            ran.append(("container", second_done.is_set()))
        ctx.defer("remove slow container", remove_container)
        return "slow"

    def make_quick(ctx):
        ctx.defer("remove quick", lambda: (ran.append(("quick", False)), second_done.set()))
        return "quick"

    for name, make in (("fake_slow", make_slow), ("fake_quick", make_quick)):
        monkeypatch.setitem(resources._PROVIDERS, name, resources.Provider(
            name=name, make=make, blame=None, engine=False, depends=(), releasable=True))
    ctx = Context(options=Options(submission=tmp_path), run_id=uuid.uuid4().hex[:10], workdir=tmp_path,
                  scratch=tmp_path)
    ctx.get("fake_slow"), ctx.get("fake_quick")
    assert ctx.release(["fake_slow"]) == ["fake_slow"]
    assert first_started.wait(5)
    assert ctx.release(["fake_quick"]) == ["fake_quick"]
    assert ctx.close() == []
    assert [step for step, _ in ran] == ["quick", "container", "volume"]


def test_close_never_runs_the_steps_of_a_release_still_running(tmp_path, monkeypatch):
    """Past DRAIN_S close() reports a release still running and leaves its steps to it (and to the
    label sweep): it never removes a volume while that release is still removing its container."""
    import threading as real_threading

    from grader import context as context_module
    from grader import resources

    ran, started, go_on = [], real_threading.Event(), real_threading.Event()

    def make_stuck(ctx):
        ctx.defer("remove stuck volume", lambda: ran.append("volume"))

        def remove_container():
            started.set()
            go_on.wait(10)
            ran.append("container")
        ctx.defer("remove stuck container", remove_container)
        return "stuck"

    monkeypatch.setitem(resources._PROVIDERS, "fake_stuck", resources.Provider(
        name="fake_stuck", make=make_stuck, blame=None, engine=False, depends=(), releasable=True))
    monkeypatch.setattr(context_module, "DRAIN_S", 0.2)
    ctx = Context(options=Options(submission=tmp_path), run_id=uuid.uuid4().hex[:10], workdir=tmp_path,
                  scratch=tmp_path)
    ctx.get("fake_stuck")
    ctx.release(["fake_stuck"])
    assert started.wait(5)
    assert ctx.close() == ["a release still running after 0.2 s"]
    assert ran == []                                     # close() took no step of the stuck release
    go_on.set()
    for thread, _ in ctx._releases:
        thread.join(5)
    assert ran == ["container", "volume"]                # the release finished them, in order
