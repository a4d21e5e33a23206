"""Standalone containers: port choice and health budgets (pure), real starts, exits, loopback, probes."""

from __future__ import annotations

import pytest

from grader.docker.service import _seconds, exposed_ports, healthcheck_budget, reachable, serving_port
from grader.errors import ResourceError
from grader.tasks.common import identity
from tests.grader.dockerkit import EXITS, LOOPBACK_ROOT, leftovers, make_context, make_submission


def test_serving_port_prefers_exposed_then_reachable():
    listening = [("127.0.0.1", 8125), ("0.0.0.0", 9000), ("::", 5000)]
    assert serving_port(listening, [5000]) == 5000
    assert serving_port(listening, [7000]) == 5000          # not on the exposed port: lowest reachable one
    assert serving_port([("127.0.0.1", 80), ("0.0.0.0", 9000)], []) == 9000
    assert serving_port([("127.0.0.1", 5000)], []) == 5000  # loopback only: still the port it serves
    assert serving_port([], [5000]) is None
    assert not reachable("127.0.0.1") and not reachable("::1") and reachable("0.0.0.0") and reachable("::")


def test_health_budget_and_times():
    seconds = 1_000_000_000
    config = {"Healthcheck": {"Test": ["CMD", "true"], "Interval": 10 * seconds, "Timeout": 5 * seconds,
                              "StartPeriod": 20 * seconds, "Retries": 3}}
    assert healthcheck_budget(config) == 55
    assert healthcheck_budget({"Healthcheck": {"Test": ["CMD", "true"]}}) == 30 * 3 + 30  # Docker's defaults
    assert _seconds("2026-01-01T00:00:00.123456789Z", "2026-01-01T00:00:02.623Z") == pytest.approx(2.5, abs=0.01)
    assert exposed_ports({"Config": {"ExposedPorts": {"5000/tcp": {}, "53/udp": {}, "80/tcp": {}}}}) == [80, 5000]


def _ctx(tmp_path, dockerfile: str, *, ready: float = 8):
    ctx = make_context(tmp_path, ready=ready)
    make_submission(ctx.workdir, {"Dockerfile.mlapp": dockerfile})
    return ctx


@pytest.mark.docker
def test_container_that_exits_reports_code_and_log(tmp_path, docker_client):
    ctx = _ctx(tmp_path, EXITS)
    try:
        with pytest.raises(ResourceError) as caught:
            ctx.get("mlapp_api")
    finally:
        assert ctx.close() == []
    error = caught.value
    assert "exited within a second of starting with code 3" in error.message
    assert "last log line: boom: no model file" in error.message and "boom" in error.details
    assert error.blame == "2.api-answers"
    assert leftovers(docker_client, ctx.run_id) == []


@pytest.mark.docker
def test_loopback_server_never_answers_on_the_container_ip(tmp_path, docker_client):
    ctx = _ctx(tmp_path, LOOPBACK_ROOT, ready=5)
    try:
        service = ctx.get("mlapp_container")
        assert service.container.name == ctx.name("mlapp")
        assert service.container.attrs["HostConfig"]["PortBindings"] in ({}, None)  # nothing published
        assert "WEB_CONCURRENCY=1" in service.container.attrs["Config"]["Env"]  # constants.API_SERVER_ENV
        with pytest.raises(ResourceError, match=r"listens on 127\.0\.0\.1:5000 \(loopback only"):
            ctx.get("mlapp_api")
        who = identity(service, ctx.get("mlapp_image").config)
        assert (who.configured, who.configured_uid, who.running_uid, who.running_name) == ("", 0, 0, "root")
    finally:
        assert ctx.close() == []
    assert leftovers(docker_client, ctx.run_id) == []
