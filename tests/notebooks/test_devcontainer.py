"""The Codespaces dev container is valid against the spec's schema and sets up what the labs need."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

REPO = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).with_name("devContainer.base.schema.json")  # source: README.md here
DEVCONTAINER = REPO / ".devcontainer" / "devcontainer.json"


def strip_jsonc_comments(text: str) -> str:
    """Remove // and /* */ comments outside strings (devcontainer.json is JSON with comments)."""
    out, i, n = [], 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@pytest.fixture(scope="module")
def config() -> dict:
    return json.loads(strip_jsonc_comments(DEVCONTAINER.read_text(encoding="utf-8")))


def test_valid_against_the_dev_container_schema(config):
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft201909Validator
    validator.check_schema(schema)
    errors = sorted(validator(schema).iter_errors(config), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_schema_rejects_a_broken_config():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    broken = {"image": "x", "forwardPorts": ["not a port"]}
    assert list(jsonschema.Draft201909Validator(schema).iter_errors(broken))


def test_python_image_and_docker_in_docker(config):
    assert config["image"] == "mcr.microsoft.com/devcontainers/python:1-3.11-bookworm"
    # docker-in-docker, not docker-outside-of-docker: bind mounts (./logs) must see this filesystem.
    assert any(f.startswith("ghcr.io/devcontainers/features/docker-in-docker:") for f in config["features"])


def test_ports_are_forwarded_and_labelled(config):
    assert {5000, 5001, 8888} <= set(config["forwardPorts"])
    labels = {port: attrs["label"] for port, attrs in config["portsAttributes"].items()}
    assert "API" in labels["5000"] and "MLflow" in labels["5001"] and "Jupyter" in labels["8888"]


def test_setup_and_extensions(config):
    assert config["postCreateCommand"] == "make setup"
    # A terminal finds the venv's tools without activating it (the labs' commands run as written).
    assert config["remoteEnv"]["PATH"].startswith("${containerWorkspaceFolder}/.venv/bin:")
    assert config["customizations"]["codespaces"]["openFiles"] == ["labs/01-docker-basics.md"]
    assert {"ms-python.python", "ms-toolsai.jupyter"} <= set(config["customizations"]["vscode"]["extensions"])


def test_jsonc_comment_stripping():
    text = '{"url": "http://x//y", /* block */ "a": 1 // line\n}'
    assert json.loads(strip_jsonc_comments(text)) == {"url": "http://x//y", "a": 1}
