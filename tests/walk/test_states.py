"""labs/states against the handouts: a state is made of its lab's snippets, and the snippets of a lab
with a state are all in it, so the exercise text and the progressive test cannot drift apart."""

from __future__ import annotations

import shutil

import pytest

from grader.constants import DELIVERABLES
from scripts import walk

STATES = walk.state_dirs()
HANDOUTS = walk.handouts()


def test_states_are_deliverables_of_labs_with_handouts():
    assert STATES, "labs/states/NN/ folders are missing"
    for lab, folder in STATES.items():
        assert lab in HANDOUTS, f"labs/states/{folder.name}: no handout labs/{folder.name}-*.md"
        files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != "README.md"]
        assert files, f"{folder} writes no deliverable"
        unknown = set(files) - set(DELIVERABLES) - set(walk.REFERENCE_STATES)
        assert not unknown, f"{folder}: {sorted(unknown)} are not deliverables ({', '.join(DELIVERABLES)})"


@pytest.mark.parametrize("lab", sorted(STATES), ids=lambda n: f"lab{n:02d}")
def test_a_lab_with_a_state_has_one_exercise_where_it_is_laid_in(lab):
    exercises = [s for s in walk.handout_steps(HANDOUTS[lab]) if isinstance(s, walk.Exercise)]
    assert len(exercises) == 1, (f"labs/{HANDOUTS[lab].name} needs exactly one '## Exercise...' heading "
                                 f"(where labs/states/{lab:02d} is laid in); found {[e.title for e in exercises]}")


@pytest.mark.parametrize("lab", sorted(STATES), ids=lambda n: f"lab{n:02d}")
def test_a_state_and_its_handout_hold_the_same_lines(lab):
    problems = walk.state_drift(lab)
    assert not problems, "edit the handout and labs/states together (or mark a block ```KIND example```):\n" + \
        "\n".join(problems)


def test_drift_either_way_is_caught(tmp_path):
    labs, states = tmp_path / "labs", tmp_path / "labs" / "states"
    shutil.copytree(walk.LABS, labs)
    assert walk.state_drift(2, states=states, labs=labs) == []
    handout = next(labs.glob("02-*.md"))
    handout.write_text(handout.read_text().replace("USER 10001\n", "USER app\n", 1))
    state = states / "02" / "Dockerfile.mlapp"
    state.write_text(state.read_text().replace("EXPOSE 5000\n", "EXPOSE 8000\n"))
    problems = walk.state_drift(2, states=states, labs=labs)
    assert "02/Dockerfile.mlapp: `USER 10001` is in no dockerfile snippet of labs 1-2" in problems
    assert "02/Dockerfile.mlapp: `EXPOSE 8000` is in no dockerfile snippet of labs 1-2" in problems
    assert any("snippet line `USER app` is not in the deliverables" in p for p in problems)
    assert any("snippet line `EXPOSE 5000` is not in the deliverables" in p for p in problems)


def test_lab_10s_state_is_the_reference_suite():
    """Lab 10's exercise has no snippet: its state is solutions/tests/container, file for file."""
    for rel, reference in walk.REFERENCE_STATES.items():
        assert (walk.STATES / "10" / rel).read_bytes() == reference.read_bytes(), rel
    assert walk.state_drift(10) == []


def test_states_accumulate_in_lab_order(tmp_path):
    """The submission at the end of lab N: skeletons, then 02..N laid over them in order."""
    assert walk.state_files(1) == {}
    assert walk.state_files(max(STATES))["Dockerfile.mlapp"].parent.name == "09"
    assert walk.state_files(10)["tests/container/test_api_container.py"].parent.name == "container"
    assert walk.state_files(8)["Dockerfile.mlapp"].parent.name == "02"
    assert walk.state_files(8)["docker-compose.yml"].parent.name == "08"
    assert walk.apply_state(tmp_path, 5) == [".dockerignore", "Dockerfile.mlapp", "Dockerfile.mlflow"]
    assert walk.apply_state(tmp_path, 4, only=True) == []
    sub = walk.make_submission(tmp_path / "sub", lab=3)
    assert (sub / ".dockerignore").read_text() == (walk.STATES / "03" / ".dockerignore").read_text()
    assert (sub / "Dockerfile.mlflow").read_text() == (walk.REPO / "Dockerfile.mlflow").read_text()  # a skeleton


def test_snippet_parsing(tmp_path):
    handout = tmp_path / "99-x.md"
    handout.write_text("\n".join([
        "| Check | Points |", "| --- | --- |", "| `3.x` | 1 |", "",
        "| Pattern | Why |", "| --- | --- |", "| `.git`, `venv` | x `not-this` |", "",
        "```dockerfile", "# a comment", "FROM python:3.11-slim-bookworm", "", "USER 10001", "```", "",
        "```yaml example", "logging: {}", "```", "",
        "- a list", "  ```yaml", "  services: {}", "  ```", ""]))
    assert walk.snippet_lines(handout, "table") == [".git", "venv"]
    assert walk.snippet_lines(handout, "dockerfile") == ["FROM python:3.11-slim-bookworm", "USER 10001"]
    assert walk.snippet_lines(handout, "yaml") == ["services: {}"]
