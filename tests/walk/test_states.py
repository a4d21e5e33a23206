"""labs/states against the handouts: a state is made of its lab's snippets, and the snippets of a lab
with a state are all in it, so the exercise text and the progressive test cannot drift apart."""

from __future__ import annotations

import pytest

from grader.constants import DELIVERABLES
from scripts import walk

STATES = walk.state_dirs()
HANDOUTS = walk.handouts()


def test_states_are_deliverables_of_labs_with_handouts():
    assert STATES, "labs/states/NN/ folders are missing"
    for lab, folder in STATES.items():
        assert lab in HANDOUTS, f"labs/states/{folder.name}: no handout labs/{folder.name}-*.md"
        files = [p.name for p in folder.iterdir() if p.is_file() and p.name != "README.md"]
        assert files, f"{folder} writes no deliverable"
        unknown = set(files) - set(DELIVERABLES)
        assert not unknown, f"{folder}: {sorted(unknown)} are not deliverables ({', '.join(DELIVERABLES)})"


@pytest.mark.parametrize("lab", sorted(STATES), ids=lambda n: f"lab{n:02d}")
def test_a_lab_with_a_state_has_one_exercise_where_it_is_laid_in(lab):
    exercises = [s for s in walk.handout_steps(HANDOUTS[lab]) if isinstance(s, walk.Exercise)]
    assert len(exercises) == 1, (f"labs/{HANDOUTS[lab].name} needs exactly one '## Exercise...' heading "
                                 f"(where labs/states/{lab:02d} is laid in); found {[e.title for e in exercises]}")


@pytest.mark.parametrize("lab", sorted(STATES), ids=lambda n: f"lab{n:02d}")
def test_every_line_of_a_state_comes_from_a_handout_snippet(lab):
    """Lab N's files are written from the snippets of handouts 1..N (Lab 9 keeps Lab 2's CMD)."""
    for path in sorted(p for p in STATES[lab].iterdir() if p.is_file() and p.name != "README.md"):
        kind = walk.SNIPPET_LANGUAGE[path.name]
        shown = {line for n, handout in HANDOUTS.items() if n <= lab for line in walk.snippet_lines(handout, kind)}
        missing = [line for line in walk.significant_lines(path.read_text()) if line not in shown]
        assert not missing, (f"labs/states/{lab:02d}/{path.name}: these lines are in no {kind} snippet of labs 1-{lab} "
                             f"(edit the handout and the state together):\n" + "\n".join(missing))


@pytest.mark.parametrize("lab", sorted(STATES), ids=lambda n: f"lab{n:02d}")
def test_every_snippet_of_a_lab_is_in_its_state(lab):
    """What the handout shows for the exercise is what the state holds (```KIND example``` opts out)."""
    state = walk.state_files(lab)
    own = [p.name for p in STATES[lab].iterdir() if p.is_file() and p.name != "README.md"]
    for kind in sorted({walk.SNIPPET_LANGUAGE[name] for name in own}):
        written = {line for name, path in state.items() if walk.SNIPPET_LANGUAGE[name] == kind
                   for line in walk.significant_lines(path.read_text())}
        missing = [line for line in walk.snippet_lines(HANDOUTS[lab], kind) if line not in written]
        assert not missing, (f"labs/{HANDOUTS[lab].name}: these {kind} snippet lines are not in labs/states/{lab:02d} "
                             "(add them, or mark a block that is not part of a deliverable ```KIND example```):\n"
                             + "\n".join(missing))


def test_states_accumulate_in_lab_order(tmp_path):
    """The submission at the end of lab N: skeletons, then 02..N laid over them in order."""
    last = max(STATES)
    assert walk.state_files(1) == {}
    assert walk.state_files(last)["Dockerfile.mlapp"].parent.name == "09"
    assert walk.state_files(8)["Dockerfile.mlapp"].parent.name == "02"
    assert walk.state_files(8)["docker-compose.yml"].parent.name == "08"
    written = walk.apply_state(tmp_path, 5)
    assert written == [".dockerignore", "Dockerfile.mlapp", "Dockerfile.mlflow"]
    assert walk.apply_state(tmp_path, 4, only=True) == []


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
