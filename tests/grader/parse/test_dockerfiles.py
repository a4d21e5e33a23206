"""DockerfileModel: stages, ARG substitution, exec form, inherited instructions, provider errors."""

from __future__ import annotations

import pytest

from grader.errors import ResourceError
from grader.parse.dockerfiles import DockerfileModel, ImageRef, load

MULTI = """\
# syntax comment
ARG PY=3.11
FROM python:${PY}-slim-bookworm AS Builder
ENV PIP_NO_CACHE_DIR=1 \\
    VENV=/opt/venv
RUN python -m venv $VENV
FROM builder AS test
CMD gunicorn app:app
FROM python:${PY}-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH PORT=5000
COPY --from=builder /opt/venv /opt/venv
COPY --from=python:3.12 /usr/local/bin/python3 /tmp/
USER app
EXPOSE 5000 9000/udp
HEALTHCHECK --interval=10s --retries=3 \\
  CMD ["python", "-c", "print(1)"]
CMD ['gunicorn', 'app:app']
"""


def test_stages_names_and_arg_substitution():
    model = DockerfileModel.from_text(MULTI, name="Dockerfile.mlapp")
    assert [(s.index, s.name, s.image, s.parent) for s in model.stages] == [
        (0, "builder", "python:3.11-slim-bookworm", None),
        (1, "test", "builder", 0),
        (2, None, "python:3.11-slim-bookworm", None),
    ]
    assert model.stages[0].from_line.line == 3
    assert model.base(model.stages[1]).raw == "python:3.11-slim-bookworm"  # FROM builder follows the chain
    assert [ref.raw for _, ref in model.external_bases()] == ["python:3.11-slim-bookworm"] * 2


def test_final_stage_facts():
    model = DockerfileModel.from_text(MULTI)
    assert model.effective("USER").text == "USER app"
    assert [(ins.line, port) for ins, port in model.exposed] == [(14, "5000/tcp"), (14, "9000/udp")]
    assert model.env == {"PATH": "/opt/venv/bin:$PATH", "PORT": "5000"}  # unknown $PATH is kept as written
    copies = model.copies_from_stages()
    assert [(ins.line, stage.name) for ins, stage in copies] == [(11, "builder")]  # not the external image


def test_exec_form_detection():
    model = DockerfileModel.from_text(MULTI)
    health = model.effective("HEALTHCHECK")
    assert health.flags == {"interval": "10s", "retries": "3"}
    assert health.exec_argv() == ["python", "-c", "print(1)"]
    cmd = model.effective("CMD")
    assert cmd.line == 17 and not cmd.exec_form  # single quotes are not JSON: Docker uses shell form
    inherited = model.effective("CMD", model.stages[1])
    assert inherited.text == "CMD gunicorn app:app" and not inherited.exec_form


def test_instruction_variables_and_resolution():
    model = DockerfileModel.from_text(MULTI)
    run = model.stages[0].all("RUN")[0]
    assert run.resolved == "python -m venv /opt/venv"
    assert model.find("RUN python -m venv $VENV") is run
    assert model.find("ENV PIP_NO_CACHE_DIR=1 VENV=/opt/venv").line == 4


@pytest.mark.parametrize(("raw", "repository", "tag", "digest", "pinned"), [
    ("python", "python", None, None, False),
    ("python:latest", "python", "latest", None, False),
    ("python:3.11-slim-bookworm", "python", "3.11-slim-bookworm", None, True),
    ("localhost:5000/ns/app", "localhost:5000/ns/app", None, None, False),
    ("localhost:5000/ns/app:1.0", "localhost:5000/ns/app", "1.0", None, True),
    ("python@sha256:abc", "python", None, "sha256:abc", True),
    ("python:$PY", "python", "$PY", None, False),
    ("scratch", "scratch", None, None, True),
])
def test_image_refs(raw, repository, tag, digest, pinned):
    ref = ImageRef.parse(raw)
    assert (ref.repository, ref.tag, ref.digest, ref.pinned) == (repository, tag, digest, pinned)


def test_reference_dockerfiles_parse(repo):
    mlapp = DockerfileModel.from_path(repo / "solutions" / "Dockerfile.mlapp")
    assert len(mlapp.stages) == 2 and mlapp.final.parent is None
    assert mlapp.effective("CMD").exec_argv()[0] == "gunicorn"
    mlflow = DockerfileModel.from_path(repo / "solutions" / "Dockerfile.mlflow")
    assert mlflow.effective("CMD").exec_argv()[:2] == ["mlflow", "server"]


def test_load_reports_missing_and_skeleton(tmp_path, repo):
    with pytest.raises(ResourceError, match="Dockerfile.mlapp is missing"):
        load(tmp_path, "Dockerfile.mlapp")
    (tmp_path / "Dockerfile.mlapp").write_text((repo / "Dockerfile.mlapp").read_text())
    with pytest.raises(ResourceError, match="has no FROM instruction: it is still the skeleton"):
        load(tmp_path, "Dockerfile.mlapp")
    (tmp_path / "Dockerfile.mlflow").write_text("")
    with pytest.raises(ResourceError, match="Dockerfile.mlflow has no FROM"):
        load(tmp_path, "Dockerfile.mlflow")


def test_arg_scoping_follows_docker():
    text = ("ARG BASE=python:3.11-slim\nARG TAG\nFROM ${BASE} AS a\nARG BASE\nARG OWN=x\nRUN echo $BASE $OWN $TAG\n"
            "ENV HOME_DIR=/home/$OWN\nFROM a\nRUN echo $HOME_DIR $OWN\n")
    model = DockerfileModel.from_text(text)
    assert model.stages[0].image == "python:3.11-slim"
    assert model.stages[0].all("RUN")[0].resolved == "echo python:3.11-slim x $TAG"  # bare global ARG: unset
    assert model.stages[1].all("RUN")[0].resolved == "echo /home/x $OWN"  # ENV is inherited, ARG is not
    assert model.env == {"HOME_DIR": "/home/x"}
