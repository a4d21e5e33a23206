"""grader.docker.policy: pure rules on a ComposeModel built from dicts (compose's normalised form)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grader.docker import policy
from grader.docker.compose import ComposeModel
from grader.errors import ResourceError


def model(tmp_path: Path, api: dict | None = None, *, networks=None, volumes=None, extra=None) -> ComposeModel:
    services = {
        "mlflow": {"build": {"context": str(tmp_path), "dockerfile": "Dockerfile.mlflow"},
                   "volumes": [{"type": "volume", "source": "data", "target": "/mlflow"}]},
        "api": {"build": {"context": str(tmp_path), "dockerfile": "Dockerfile.mlapp"},
                "volumes": [{"type": "bind", "source": str(tmp_path / "logs"), "target": "/app/logs"}],
                **(api or {})},
    }
    data = {"services": services, "networks": networks or {"net": {}}, "volumes": volumes or {"data": {}},
            **(extra or {})}
    return ComposeModel(data=data, file=tmp_path / "docker-compose.yml", workspace=tmp_path)


def bind(source: str, target: str = "/x") -> dict:
    return {"volumes": [{"type": "bind", "source": source, "target": target}]}


def test_a_plain_stack_passes(tmp_path):
    assert policy.violations(model(tmp_path), instructor=True) == []
    policy.enforce(model(tmp_path), instructor=True)


@pytest.mark.parametrize(("api", "key", "value"), [
    ({"privileged": True}, "privileged", "true"),
    ({"network_mode": "host"}, "network_mode", "host"),
    ({"pid": "host"}, "pid", "host"),
    ({"ipc": "host"}, "ipc", "host"),
    ({"network_mode": "container:someone-else"}, "network_mode", "container:someone-else"),
    ({"cap_add": ["ALL"]}, "cap_add", "ALL"),
    ({"cap_add": ["CAP_SYS_ADMIN"]}, "cap_add", "SYS_ADMIN"),
    ({"devices": [{"source": "/dev/kvm", "target": "/dev/kvm"}]}, "devices", "/dev/kvm"),
    ({"security_opt": ["seccomp:unconfined"]}, "security_opt", "seccomp:unconfined"),
    (bind("/var/run/docker.sock", "/var/run/docker.sock"), "volumes", "/var/run/docker.sock:/var/run/docker.sock"),
    (bind("/"), "volumes", "/:/x"),
    (bind("/proc"), "volumes", "/proc:/x"),
    (bind("/sys/fs/cgroup"), "volumes", "/sys/fs/cgroup:/x"),
    (bind("/etc/passwd"), "volumes", "/etc/passwd:/x"),
])
def test_each_rule_names_service_key_and_value(tmp_path, api, key, value):
    found = policy.violations(model(tmp_path, api))
    assert [(v.where, v.key, v.value) for v in found] == [("service api", key, value)]
    with pytest.raises(ResourceError) as info:
        policy.enforce(model(tmp_path, api))
    assert f"service api: `{key}: {value}`" in info.value.message


def test_harmless_capabilities_and_bridge_networks_pass(tmp_path):
    assert policy.violations(model(tmp_path, {"cap_add": ["NET_BIND_SERVICE"], "network_mode": "bridge"})) == []


def test_external_networks_and_volumes(tmp_path):
    m = model(tmp_path, networks={"net": {"external": True}}, volumes={"data": {"external": True, "name": "prod"}})
    assert [(v.where, v.key) for v in policy.violations(m)] == [("network net", "external"),
                                                               ("volume data", "external")]


def test_volume_that_is_a_bind_in_disguise(tmp_path):
    m = model(tmp_path, volumes={"data": {"driver_opts": {"type": "none", "o": "bind", "device": "/etc"}}})
    assert [(v.where, v.key, v.value) for v in policy.violations(m)] == [("volume data", "driver_opts.device", "/etc")]


def test_secret_files_follow_the_mount_rules(tmp_path):
    m = model(tmp_path, extra={"secrets": {"s": {"file": "/etc/shadow"}}})
    assert [(v.where, v.value) for v in policy.violations(m)] == [("secret s", "/etc/shadow")]


def test_a_symlink_in_the_submission_is_followed(tmp_path):
    os.symlink("/etc", tmp_path / "innocent")
    found = policy.violations(model(tmp_path, bind(str(tmp_path / "innocent"))))
    assert [v.reason for v in found] == ["/etc belongs to the host"]


def test_binds_outside_the_submission_only_refused_for_instructors(tmp_path):
    outside = tmp_path.parent / "elsewhere"
    m = model(tmp_path / "sub", bind(str(outside)))
    assert policy.violations(m, instructor=False) == []
    [violation] = policy.violations(m, instructor=True)
    assert "outside the submission" in violation.reason


def test_the_workspace_itself_is_never_sensitive(tmp_path):
    # Wherever the grader puts its scratch copy, mounts inside it are fine.
    assert policy.path_problem(str(tmp_path / "logs"), workspace=tmp_path, instructor=True) is None
