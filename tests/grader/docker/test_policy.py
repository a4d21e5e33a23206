"""grader.docker.policy: the rules of policy.yaml on compose data (pure: dicts and files, no engine).

The adversarial corpus (tests/grader/adversarial) proves each rule again through a real grade.
"""

from __future__ import annotations

import os
import re
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


def found(m: ComposeModel, *, instructor: bool = True) -> list[tuple]:
    return [(v.where, v.key, v.value) for v in policy.violations(m, instructor=instructor)]


# -- the table ------------------------------------------------------------------------------------
def test_the_table_is_one_well_formed_rule_per_line():
    rules = policy.rules()
    ids = [r.id for r in rules]
    assert len(ids) == len(set(ids)) >= 60
    lines = [ln for ln in policy.RULES_FILE.read_text().splitlines() if ln.strip().startswith("- {id:")]
    assert len(lines) == len(rules), "every rule is one line of policy.yaml"
    for rule in rules:
        assert rule.reason and rule.scope in policy.SCOPES and rule.test in policy.TESTS, rule
        assert rule.student in ("refuse", "warn"), rule


def test_a_plain_stack_passes(tmp_path):
    assert policy.violations(model(tmp_path), instructor=True) == []
    policy.enforce(model(tmp_path), instructor=True)


# -- today's refusals: refused in both modes -------------------------------------------------------
@pytest.mark.parametrize(("api", "key", "value"), [
    ({"privileged": True}, "privileged", "true"),
    ({"network_mode": "host"}, "network_mode", "host"),
    ({"pid": "host"}, "pid", "host"),
    ({"ipc": "host"}, "ipc", "host"),
    ({"uts": "host"}, "uts", "host"),
    ({"userns_mode": "host"}, "userns_mode", "host"),
    ({"cgroup": "host"}, "cgroup", "host"),
    ({"network_mode": "container:someone-else"}, "network_mode", "container:someone-else"),
    ({"cap_add": ["ALL"]}, "cap_add", "ALL"),
    ({"cap_add": ["CAP_SYS_ADMIN"]}, "cap_add", "SYS_ADMIN"),
    ({"devices": [{"source": "/dev/kvm", "target": "/dev/kvm"}]}, "devices", "/dev/kvm"),
    ({"security_opt": ["seccomp:unconfined"]}, "security_opt", "seccomp:unconfined"),
    ({"security_opt": ["apparmor=unconfined"]}, "security_opt", "apparmor=unconfined"),
    ({"use_api_socket": True}, "use_api_socket", "true"),
    ({"volumes_from": ["container:db"]}, "volumes_from", "container:db"),
    ({"post_start": [{"command": ["id"], "privileged": True}]}, "post_start.privileged", "true"),
    (bind("/var/run/docker.sock", "/var/run/docker.sock"), "volumes", "/var/run/docker.sock:/var/run/docker.sock"),
    (bind("/"), "volumes", "/:/x"),
    (bind("/proc"), "volumes", "/proc:/x"),
    (bind("/sys/fs/cgroup"), "volumes", "/sys/fs/cgroup:/x"),
    (bind("/etc/passwd"), "volumes", "/etc/passwd:/x"),
])
def test_host_access_is_refused_in_both_modes(tmp_path, api, key, value):
    for instructor in (True, False):
        violations = policy.violations(model(tmp_path, api), instructor=instructor)
        assert [(v.where, v.key, v.value, v.refused) for v in violations] == [("service api", key, value, True)]
    with pytest.raises(ResourceError) as info:
        policy.enforce(model(tmp_path, api))
    assert f"docker-compose.yml: service api: `{key}: {value}`" in info.value.message


# -- issue 14's rules: refused by instructors, a warning for students -------------------------------
@pytest.mark.parametrize(("api", "key", "value"), [
    ({"cap_add": ["NET_ADMIN", "NET_RAW", "SYS_TIME"]}, "cap_add", "NET_ADMIN"),
    ({"sysctls": {"net.ipv4.ip_forward": "1"}}, "sysctls", "net.ipv4.ip_forward=1"),
    ({"cgroup_parent": "/escape"}, "cgroup_parent", "/escape"),
    ({"runtime": "nvidia"}, "runtime", "nvidia"),
    ({"isolation": "hyperv"}, "isolation", "hyperv"),
    ({"security_opt": ["apparmor=my-profile"]}, "security_opt", "apparmor=my-profile"),
    ({"gpus": [{"count": -1}]}, "gpus", "count=-1"),
    ({"oom_kill_disable": True}, "oom_kill_disable", "true"),
    ({"oom_score_adj": -500}, "oom_score_adj", "-500"),
    ({"tmpfs": ["/run:size=10g"]}, "tmpfs", "/run:size=10g"),
    ({"shm_size": "8g"}, "shm_size", "8g"),
    ({"external_links": ["db:db"]}, "external_links", "db:db"),
    ({"extra_hosts": ["me:host-gateway"]}, "extra_hosts", "me:host-gateway"),
    ({"provider": {"type": "awesomecloud"}}, "provider", "type=awesomecloud"),
    ({"scale": 50}, "scale", "50"),
    ({"build": {"context": "/srv/elsewhere", "dockerfile": "Dockerfile.mlapp"}}, "build.context", "/srv/elsewhere"),
    ({"build": {"context": "https://github.com/x/y.git"}}, "build.context", "https://github.com/x/y.git"),
    ({"build": {"context": ".", "dockerfile": "/srv/Dockerfile"}}, "build.dockerfile", "/srv/Dockerfile"),
    ({"build": {"context": ".", "ssh": ["default"]}}, "build.ssh", "default"),
    ({"build": {"context": ".", "network": "host"}}, "build.network", "host"),
    ({"build": {"context": ".", "additional_contexts": {"x": "/srv/x"}}}, "build.additional_contexts", "/srv/x"),
])
def test_new_rules_refuse_for_instructors_and_warn_students(tmp_path, api, key, value):
    if "build" in api:
        api = {"build": {"context": str(tmp_path), **api["build"]} if api["build"].get("context") == "." else api["build"]}
    assert (("service api", key, value) in found(model(tmp_path, api), instructor=True))
    student = [v for v in policy.violations(model(tmp_path, api), instructor=False) if v.key == key]
    assert student and not any(v.refused for v in student)
    warnings = []
    policy.enforce(model(tmp_path, api), instructor=False, warn=warnings.append)
    assert any(f"`{key}: {value}`" in w and "refused with --instructor" in w for w in warnings)


def test_capabilities_a_web_service_may_add(tmp_path):
    assert found(model(tmp_path, {"cap_add": ["NET_BIND_SERVICE", "CHOWN", "SETUID", "SETGID"],
                                  "cap_drop": ["ALL"], "security_opt": ["no-new-privileges:true"],
                                  "network_mode": "bridge", "tmpfs": ["/tmp:size=64m"]})) == []


def test_the_refusal_names_every_violation_and_says_what_was_expected(tmp_path):
    with pytest.raises(ResourceError) as info:
        policy.enforce(model(tmp_path, {"cap_add": ["NET_ADMIN"], "sysctls": ["a=1"]}), instructor=True,
                       blame="7.stack-healthy")
    exc = info.value
    assert exc.blame == "7.stack-healthy" and exc.message.startswith("the grader will not start this stack:")
    assert "`cap_add: NET_ADMIN`" in exc.message and "`sysctls: a=1`" in exc.message
    assert "reconfigure or spoof the network" in exc.message and "host access" in exc.expected


def test_networks_volumes_secrets_configs(tmp_path):
    m = model(tmp_path, networks={"net": {"external": True}, "lan": {"driver": "macvlan"},
                                  "fixed": {"ipam": {"config": [{"subnet": "10.0.0.0/8"}]}}},
              volumes={"data": {"external": True, "name": "prod"}, "nfs": {"driver_opts": {"type": "nfs", "o": "addr=1.2.3.4"}}},
              extra={"secrets": {"s": {"file": "/etc/shadow"}, "e": {"environment": "AWS_SECRET_ACCESS_KEY"}},
                     "configs": {"c": {"file": "/srv/outside.conf"}}})
    assert found(m) == [
        ("network fixed", "ipam.config", "subnet=10.0.0.0/8"), ("network lan", "driver", "macvlan"),
        ("network net", "external", "true"), ("volume data", "external", "true"),
        ("volume nfs", "driver_opts.type", "nfs"), ("secret e", "environment", "AWS_SECRET_ACCESS_KEY"),
        ("secret s", "file", "/etc/shadow"), ("config c", "file", "/srv/outside.conf"),
    ]


def test_volume_that_is_a_bind_in_disguise(tmp_path):
    m = model(tmp_path, volumes={"data": {"driver_opts": {"type": "none", "o": "bind", "device": "/etc"}}})
    assert found(m) == [("volume data", "driver_opts.device", "/etc")]


def test_a_symlink_in_the_submission_is_followed(tmp_path):
    os.symlink("/etc", tmp_path / "innocent")
    violations = policy.violations(model(tmp_path, bind(str(tmp_path / "innocent"))), instructor=False)
    assert [(v.reason, v.refused) for v in violations] == [("/etc belongs to the host", True)]


def test_binds_outside_the_submission_are_refused_for_instructors_only(tmp_path):
    outside = tmp_path.parent / "elsewhere"
    m = model(tmp_path / "sub", bind(str(outside)))
    [student] = policy.violations(m, instructor=False)
    [instructor] = policy.violations(m, instructor=True)
    assert not student.refused and instructor.refused and "outside the submission" in instructor.reason


def test_the_workspace_itself_is_never_sensitive(tmp_path):
    # Wherever the grader puts its scratch copy, mounts inside it are fine.
    assert policy.path_problem(str(tmp_path / "logs"), workspace=tmp_path, instructor=True) is None
    assert policy.host_path("logs", workspace=tmp_path) is None


# -- the raw files, before `docker compose config` reads anything -----------------------------------
def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def preflight(root: Path, *, instructor: bool = True, variables=None) -> list[tuple]:
    return [(v.file, v.where, v.key, v.value, v.refused)
            for v in policy.preflight(root, root / "docker-compose.yml", instructor=instructor, variables=variables)]


def test_env_files_label_files_extends_and_includes_outside(tmp_path):
    root = write(tmp_path / "sub", {"docker-compose.yml": (
        "include: [/srv/other/compose.yml, {path: [ok.yml], env_file: /srv/x.env}, oci://docker.io/u/app:1]\n"
        "services:\n"
        "  api:\n"
        "    extends: {file: ../base.yml, service: base}\n"
        "    env_file: [/etc/passwd, {path: local.env}, {path: ../../secret.env, required: false}]\n"
        "    label_file: /srv/labels\n"), "ok.yml": "services: {}\n", "local.env": "A=1\n"})
    assert preflight(root) == [
        ("docker-compose.yml", "compose file", "include", "/srv/other/compose.yml", True),
        ("docker-compose.yml", "compose file", "include", "/srv/x.env", True),
        ("docker-compose.yml", "compose file", "include", "oci://docker.io/u/app:1", True),
        ("docker-compose.yml", "service api", "extends.file", "../base.yml", True),
        ("docker-compose.yml", "service api", "env_file", "/etc/passwd", True),
        ("docker-compose.yml", "service api", "env_file", "../../secret.env", True),
        ("docker-compose.yml", "service api", "label_file", "/srv/labels", True),
    ]
    student = preflight(root, instructor=False)
    assert [row[3] for row in student if row[4]] == ["/etc/passwd"]  # a system directory: refused anyway


def test_included_and_extended_files_inside_are_read_too(tmp_path):
    root = write(tmp_path / "sub", {
        "docker-compose.yml": "include: [parts/more.yml]\nservices:\n  api:\n    extends: {file: base.yml, service: b}\n",
        "parts/more.yml": "services:\n  extra:\n    env_file: ../../outside.env\n",
        "base.yml": "services:\n  b:\n    label_file: /etc/hostname\n"})
    assert preflight(root) == [  # in the order compose reads them: includes, then extended files
        ("parts/more.yml", "service extra", "env_file", "../../outside.env", True),
        ("base.yml", "service b", "label_file", "/etc/hostname", True),
    ]


def test_variables_are_interpolated_as_compose_does(tmp_path):
    # An unset variable is empty to compose: `${NOPE}/etc/passwd` reads /etc/passwd.
    root = write(tmp_path / "sub", {".env": "WHERE=/srv\n", "docker-compose.yml": (
        "services:\n  api:\n    env_file: ['${NOPE}/etc/passwd', '${WHERE}/x.env', '${UNSET:-./ok.env}']\n")})
    assert [row[3] for row in preflight(root, variables={})] == ["${NOPE}/etc/passwd", "${WHERE}/x.env"]


def test_a_symlinked_env_file_is_outside(tmp_path):
    root = write(tmp_path / "sub", {"docker-compose.yml": "services:\n  api:\n    env_file: innocent.env\n"})
    os.symlink("/etc/passwd", root / "innocent.env")
    assert preflight(root, instructor=False) == [
        ("docker-compose.yml", "service api", "env_file", "innocent.env", True)]


def test_a_broken_or_huge_file_is_left_to_compose(tmp_path):
    root = write(tmp_path / "sub", {"docker-compose.yml": "services: [unclosed\n"})
    assert preflight(root) == []
    (root / "docker-compose.yml").write_text("x: " + "a" * (policy.MAX_COMPOSE_BYTES + 10))
    assert preflight(root) == []


def test_settle_warns_students_and_refuses_the_rest():
    warned = []
    soft = policy.Violation("service api", "sysctls", "a=1", "why", file="docker-compose.yml", refused=False)
    policy.settle([soft], what="start this stack", warn=warned.append)
    assert warned == ["docker-compose.yml: service api: `sysctls: a=1` (why): allowed in student mode, "
                      "refused with --instructor"]
    hard = policy.Violation("service api", "privileged", "true", "host", file="docker-compose.yml")
    with pytest.raises(ResourceError, match=re.escape("the grader will not read this compose file: "
                                                      "docker-compose.yml: service api: `privileged: true` (host)")):
        policy.settle([soft, hard], what="read this compose file", warn=warned.append)
