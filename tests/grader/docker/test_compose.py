"""ComposeModel: `docker compose config` (the real binary, no engine) on small compose files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from grader.docker.compose import ComposeModel, load
from grader.errors import ResourceError

REPO = Path(__file__).resolve().parents[3]
MLFLOW_DOCKERFILE = textwrap.dedent("""\
    FROM python:3.11-slim-bookworm
    WORKDIR /srv
    HEALTHCHECK CMD ["python", "-c", "print(1)"]
    CMD ["mlflow", "server", "--host", "0.0.0.0", "--port", "7000"]
""")
# Everything named differently from the reference: services, port, network, log directory.
ALT_COMPOSE = textwrap.dedent("""\
    services:
      tracking:
        build: {context: ., dockerfile: docker/Dockerfile.mlflow}
        command: ["mlflow", "server", "--host", "0.0.0.0", "--port", "8080",
                  "--backend-store-uri", "sqlite:////data/store/mlflow.db",
                  "--artifacts-destination", "/data/artifacts", "--allowed-hosts", "tracking:8080"]
        healthcheck:
          test: ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health')"]
        restart: always
        expose: ["8080"]
        volumes: [tracking-store:/data]
        networks:
          backend: {aliases: [mlflow-server]}
      api:
        build: {context: ., dockerfile: Dockerfile.mlapp}
        image: acme/churn-service:2.1.0
        restart: on-failure
        environment:
          MLFLOW_TRACKING_URI: http://tracking:8080
          LOG_DIR: /var/log/api
        volumes: ["./api-logs:/var/log/api"]
        networks: [backend]
        depends_on:
          tracking: {condition: service_healthy}
      batch:
        profiles: [jobs]
        build: {context: ., dockerfile: Dockerfile.mlapp}
        command: ["python", "-m", "churn.train"]
        networks: [backend]
    networks:
      backend: {}
    volumes:
      tracking-store: {}
""")


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def reference_model(tmp_path_factory) -> ComposeModel:
    from grader.workspace import prepare

    return load(prepare(submission=REPO, dest=tmp_path_factory.mktemp("ref") / "sub", solution=True))


@pytest.fixture(scope="module")
def alt_model(tmp_path_factory) -> ComposeModel:
    root = write(tmp_path_factory.mktemp("alt"), {
        "docker-compose.yml": ALT_COMPOSE,
        "docker/Dockerfile.mlflow": MLFLOW_DOCKERFILE,
        "Dockerfile.mlapp": "FROM python:3.11-slim-bookworm\nENV PYTHONUNBUFFERED=1\nCMD [\"gunicorn\"]\n",
    })
    return load(root)


def test_reference_roles_and_helpers(reference_model):
    m = reference_model
    assert (m.mlapp, m.mlflow) == ("mlapp", "mlflow")
    assert m.services_with_build() == ["mlapp", "mlflow"]  # the `train` profile is not started
    build = m.build("mlapp")
    assert build == {"context": m.workspace, "dockerfile": "Dockerfile.mlapp", "args": {}, "target": None}
    [logs] = m.mounts("mlapp")
    assert (logs.type, logs.source, logs.target) == ("bind", str(m.workspace / "logs"), "/app/logs")
    assert m.environment("mlapp")["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert list(m.networks("mlapp")) == ["mlops"]
    assert m.mlflow_port() == 5000
    assert m.resolve_host("mlflow") == "mlflow"
    assert m.healthcheck("mlflow")[0].startswith("Dockerfile.mlflow line")


def test_alternative_names_resolve_by_role(alt_model):
    m = alt_model
    assert (m.mlapp, m.mlflow) == ("api", "tracking")  # `batch` sits behind a profile
    assert m.services_with_build() == ["api", "tracking"]
    assert m.mlflow_port() == 8080
    assert m.resolve_host("tracking") == "tracking"
    assert m.resolve_host("MLFLOW-SERVER") == "tracking"  # a network alias, any case
    assert m.resolve_host("nowhere") is None
    assert m.declared_ports("tracking") == [8080]
    assert m.healthcheck("tracking")[0] == "compose"
    assert m.dockerfile_path("tracking") == m.workspace / "docker" / "Dockerfile.mlflow"


def test_mlflow_port_from_dockerfile_env_and_default(tmp_path):
    def model(command_yaml: str, env_yaml: str = "") -> ComposeModel:
        root = tmp_path / f"p{len(list(tmp_path.iterdir()))}"
        write(root, {
            "Dockerfile.mlflow": MLFLOW_DOCKERFILE,
            "Dockerfile.mlapp": "FROM python:3.11-slim-bookworm\n",
            "docker-compose.yml": "services:\n  m:\n    build: {context: ., dockerfile: Dockerfile.mlflow}\n"
                                  f"{command_yaml}{env_yaml}"
                                  "  a:\n    build: {context: ., dockerfile: Dockerfile.mlapp}\n",
        })
        return load(root)

    assert model("").mlflow_port() == 7000  # the Dockerfile's CMD
    assert model('    command: ["sh", "-c", "exec mlflow server -p 9000"]\n').mlflow_port() == 9000
    assert model("    command: mlflow server --port=9100\n").mlflow_port() == 9100
    assert model("    command: mlflow server\n", "    environment: {MLFLOW_PORT: '6000'}\n").mlflow_port() == 6000
    assert model("    command: mlflow server\n").mlflow_port() == 5000
    assert model("    command: mlflow server\n    healthcheck: {disable: true}\n").healthcheck("m") is None


def test_invalid_file_quotes_compose(tmp_path):
    write(tmp_path, {"docker-compose.yml": "services:\n  a:\n    image: x\n    ports: bad\n"})
    with pytest.raises(ResourceError) as info:
        load(tmp_path)
    assert "services.a.ports must be a array" in info.value.message
    assert "docker compose config" in info.value.message


def test_missing_file(tmp_path):
    with pytest.raises(ResourceError, match="docker-compose.yml is missing"):
        load(tmp_path)


def test_a_missing_role_costs_only_the_checks_that_need_it(tmp_path):
    """The model loads whatever roles it has; require() names the missing ones (blamed on 6.valid)."""
    write(tmp_path, {"docker-compose.yml": "services:\n  web:\n    build: .\n"})
    model = load(tmp_path)
    with pytest.raises(ResourceError) as info:
        model.require("mlapp", "mlflow")
    assert "no service builds Dockerfile.mlapp and no service builds Dockerfile.mlflow" in info.value.message
    assert "web (builds Dockerfile)" in info.value.message and info.value.blame == "6.valid"
    api_only = write(tmp_path / "api", {"docker-compose.yml": "services:\n  api:\n    build: {context: ., dockerfile: "
                                                              "Dockerfile.mlapp}\n"})
    model = load(api_only)
    assert model.require("mlapp") == ("api",)
    with pytest.raises(ResourceError, match="no service builds Dockerfile.mlflow"):
        model.require("mlflow")


def test_skeleton_compose_is_a_clean_failure(tmp_path):
    (tmp_path / "docker-compose.yml").write_text((REPO / "docker-compose.yml").read_text())
    with pytest.raises(ResourceError, match="no service builds"):
        load(tmp_path).require("mlapp", "mlflow")


def test_nothing_of_the_graders_environment_reaches_the_project(tmp_path, monkeypatch):
    # Interpolation and value-less `environment:` entries read the environment compose runs in.
    monkeypatch.setenv("MLOPS_GRADER_TEST_SECRET", "instructor-only")
    monkeypatch.setenv("COMPOSE_PROFILES", "jobs")
    write(tmp_path, {"docker-compose.yml": textwrap.dedent("""\
        services:
          api:
            build: {context: ., dockerfile: Dockerfile.mlapp}
            environment: [MLOPS_GRADER_TEST_SECRET, "COPY=${MLOPS_GRADER_TEST_SECRET:-unset}"]
          tracking:
            build: {context: ., dockerfile: Dockerfile.mlflow}
    """)})
    env = load(tmp_path).environment("api")
    assert env["COPY"] == "unset" and env.get("MLOPS_GRADER_TEST_SECRET") is None


def test_compose_sees_only_what_it_needs_of_the_environment():
    from grader.docker.compose import compose_environment

    kept = compose_environment({"PATH": "/bin", "HOME": "/root", "DOCKER_HOST": "unix:///x.sock",
                                "AWS_SECRET_ACCESS_KEY": "s", "COMPOSE_FILE": "/etc/x.yml"})
    assert kept == {"PATH": "/bin", "HOME": "/root", "DOCKER_HOST": "unix:///x.sock"}
