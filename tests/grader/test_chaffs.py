"""The planted faults of task 10 as data (grader/chaffs.yaml) and how the rubric turns them into checks."""

from __future__ import annotations

import copy

import pytest
import yaml

from grader import chaffs, rubric
from grader.docker import planting

GOOD = {"schema": 1, "chaffs": [{
    "id": "runs-as-root", "title": "the API runs as root", "points": 1, "section": "labs/10-x.md#who",
    "hint": "Test the user.", "derived": "USER root\n", "confirm": "runs-as-root"}]}


def broken(**changes) -> dict:
    data = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is None:
            data["chaffs"][0].pop(key)
        else:
            data["chaffs"][0][key] = value
    return data


def test_the_kits_chaffs_load_and_name_real_probes():
    loaded = chaffs.load() + chaffs.load(chaffs.HIDDEN_CHAFFS_PATH)
    assert [c.id for c in loaded] == ["runs-as-root", "binds-localhost", "no-healthcheck", "model-missing",
                                      "predict-fails", "logs-not-on-stdout", "compiler-left", "git-in-image"]
    assert {c.how for c in loaded} == {"derived", "dockerfile"}
    assert [c.id for c in loaded if c.visibility == "hidden"] == ["git-in-image"]
    assert all(c.visibility == "visible" for c in chaffs.load())   # hidden ones: their own file only
    assert set(chaffs.CONFIRMS) == set(planting.CONFIRMS)  # the data's names and the probes' table agree
    exists = next(c for c in loaded if c.id == "git-in-image")
    assert (exists.confirm_name, exists.confirm_argument) == ("exists", "{workdir}/.git")


@pytest.mark.parametrize(("changes", "message"), [
    ({"confirm": "is-broken"}, "`confirm` must start with one of"),
    ({"dockerfile": "RUN true\n"}, "exactly one of derived, dockerfile"),
    ({"derived": None}, "exactly one of derived, dockerfile"),
    ({"derived": "RUN rm {model}\n"}, "unknown placeholder(s) ['model']"),
    ({"files": {"../escape.py": "x"}}, "plain file names"),
    ({"points": 0}, "`points` must be positive"),
    ({"points": "many"}, "`points` must be a number"),
    ({"id": "Runs As Root"}, "unique slug"),
    ({"visibility": "secret"}, "`visibility` must be one of"),
    ({"hint": ""}, "`hint` must be a non-empty string"),
])
def test_a_broken_chaff_is_named_with_its_field(changes, message):
    with pytest.raises(chaffs.ChaffError, match=r"chaffs.yaml chaff (#1|')") as info:
        chaffs.parse(broken(**changes))
    assert message in str(info.value)


def test_duplicate_ids_and_schema_are_refused():
    twice = copy.deepcopy(GOOD)
    twice["chaffs"].append(copy.deepcopy(GOOD["chaffs"][0]))
    with pytest.raises(chaffs.ChaffError, match="unique slug"):
        chaffs.parse(twice)
    with pytest.raises(chaffs.ChaffError, match="schema: 1"):
        chaffs.parse({"chaffs": []})


def test_shell_braces_are_not_placeholders():
    text = "ENV PYTHONPATH=/x${PYTHONPATH:+:$PYTHONPATH}\nUSER {user}\n"
    assert chaffs.parse(broken(derived=text))[0].instructions == text


def test_the_rubric_turns_each_chaff_into_a_check_of_its_task():
    task = rubric.load().task("10")
    ids = [c.id for c in task.checks]
    assert ids[0] == "10.passes-correct"
    assert ids[1:] == [f"10.catches-{c.id}" for c in task.chaffs]
    spec = rubric.load().check("10.catches-predict-fails")
    assert (spec.points, spec.partial, spec.evidence, spec.section) == (
        2, {}, ("container",), "labs/10-testing-containers.md#a-prediction-through-the-published-port")
    assert rubric.load().check("10.catches-git-in-image").visibility == "hidden"
    assert rubric.load().check("10.passes-correct").partial == {"some-tests-fail": "proportional"}


def test_an_instructor_adds_a_chaff_without_code(tmp_path):
    """A new entry in the chaffs file is a new check of task 10, with its points and hint."""
    data = yaml.safe_load(chaffs.CHAFFS_PATH.read_text())
    data["chaffs"].append({
        "id": "data-in-image", "title": "the image ships the raw training data", "points": 3,
        "section": "labs/10-testing-containers.md#everything-else-the-labs-asked-of-the-image",
        "hint": "Test that no data/ folder is in the app's directory.",
        "derived": "USER root\nRUN mkdir -p {workdir}/data/raw && echo id > {workdir}/data/raw/customers.csv\nUSER {user}\n",
        "confirm": "exists: {workdir}/data/raw/customers.csv"})
    (tmp_path / "chaffs.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "chaffs_hidden.yaml").write_text(chaffs.HIDDEN_CHAFFS_PATH.read_text())
    (tmp_path / "rubric.yaml").write_text(rubric.RUBRIC_PATH.read_text())
    loaded = rubric.load(tmp_path / "rubric.yaml")
    assert loaded.check("10.catches-data-in-image").points == 3
    assert loaded.max_points() == rubric.load().max_points() + 3



def test_a_chaff_in_the_wrong_file_is_refused(tmp_path):
    """Hidden chaffs live in `hidden_chaffs:` (a file the student edition leaves out), visible ones not."""
    hidden = broken(visibility="hidden")
    (tmp_path / "chaffs.yaml").write_text(yaml.safe_dump(hidden))
    (tmp_path / "chaffs_hidden.yaml").write_text(chaffs.HIDDEN_CHAFFS_PATH.read_text())
    (tmp_path / "rubric.yaml").write_text(rubric.RUBRIC_PATH.read_text())
    with pytest.raises(ValueError, match=r"`chaffs` \(chaffs.yaml\) may hold only visible chaffs, not runs-as-root"):
        rubric.load(tmp_path / "rubric.yaml")
    other = tmp_path / "other"   # a new folder: chaffs.load caches by path
    other.mkdir()
    (other / "chaffs.yaml").write_text(chaffs.CHAFFS_PATH.read_text())
    (other / "chaffs_hidden.yaml").write_text(yaml.safe_dump(GOOD))
    (other / "rubric.yaml").write_text(rubric.RUBRIC_PATH.read_text())
    with pytest.raises(ValueError, match="may hold only hidden chaffs, not runs-as-root"):
        rubric.load(other / "rubric.yaml")
