"""The notebooks are generated from the handouts, follow the workbook conventions, and stay in sync."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest

from grader.rubric import load
from scripts import notebooks as gen

REPO = Path(__file__).resolve().parents[2]
PAIRS = gen.pairs()


def test_every_task_has_a_handout_and_a_notebook():
    task_ids = {p.task_id for p in PAIRS}
    assert set(load().task_ids) <= task_ids, "a rubric task has no labs/NN-*.md handout"
    assert len(PAIRS) == 10
    for pair in PAIRS:
        assert pair.notebook.exists(), f"{pair.notebook.name} missing: run `make notebooks`"


def test_committed_notebooks_match_their_handouts():
    problems = gen.check()
    assert not problems, "\n".join(problems + ["Edit labs/*.md, then run `make notebooks`."])


def test_drift_in_either_file_is_caught(tmp_path):
    labs, notebooks = tmp_path / "labs", tmp_path / "notebooks"
    shutil.copytree(REPO / "labs", labs)
    shutil.copytree(REPO / "notebooks", notebooks)
    assert gen.check(labs=labs, notebooks=notebooks) == []

    handout = labs / "04-logging.md"
    handout.write_text(handout.read_text().replace("docker rm -f lab04-api", "docker rm --force lab04-api", 1))
    assert any("04-logging.ipynb" in p for p in gen.check(labs=labs, notebooks=notebooks))
    gen.sync(labs=labs, notebooks=notebooks)
    assert gen.check(labs=labs, notebooks=notebooks) == []

    nb_path = notebooks / "02-dockerfile-mlapp.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells[3].source += "\n# edited in the notebook"
    nbformat.write(nb, nb_path)
    assert any("02-dockerfile-mlapp.ipynb: cell 3" in p for p in gen.check(labs=labs, notebooks=notebooks))


def test_checks_table_drift_is_caught(tmp_path):
    labs, notebooks = tmp_path / "labs", tmp_path / "notebooks"
    shutil.copytree(REPO / "labs", labs)
    shutil.copytree(REPO / "notebooks", notebooks)
    handout = labs / "02-dockerfile-mlapp.md"
    handout.write_text(handout.read_text().replace("| 4 | Dockerfile.mlapp builds |", "| 5 | Dockerfile.mlapp builds |"))
    assert "02-dockerfile-mlapp.md: its checks table differs from grader/rubric.yaml" in gen.check(
        labs=labs, notebooks=notebooks)


def test_outputs_saved_by_a_student_run_do_not_count_as_drift(tmp_path):
    notebooks = tmp_path / "notebooks"
    shutil.copytree(REPO / "notebooks", notebooks)
    nb_path = notebooks / "01-docker-basics.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and not cell.outputs:
            cell.execution_count = 7
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="my run\n")]
    nbformat.write(nb, nb_path)
    assert gen.check(notebooks=notebooks) == []


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p.notebook.name)
def test_notebook_structure(pair):
    nb = nbformat.read(pair.notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source.startswith("# Setup"), "the first code cell must be the setup cell"
    assert "LAB_ROOT" in code[0].source
    grading = code[-1].source
    # The last notebook grades every task: the workbook ends with the whole grader's full marks.
    expected = "python -m grader doctor" if pair.task_id == "1" else (
        "python -m grader" if pair.task_id == "10" else f"python -m grader --task {pair.task_id}")
    assert re.search(rf"^{re.escape(expected)}(\s+2>&1)?$", grading.split("\n", 2)[-1], re.M), grading
    if pair.task_id == "10":
        visible = sum(c.points for c in load().checks if c.visibility == "visible")
        assert f"Score: {visible:g}/{visible:g} " in code[-1].outputs[0].text
    assert gen.has_check_marker(grading) and code[-1].outputs, "the grading cell's output must be checked"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in code:
        if gen.has_check_marker(cell.source):
            assert cell.execution_count is not None and len(cell.outputs) == 1
            assert cell.outputs[0].name == "stdout"
        else:
            assert not cell.outputs, "only checked cells carry an output"


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p.handout.name)
def test_everything_created_is_named_after_the_lab(pair):
    """Containers a notebook starts by name are called labNN-...; its project is labNN."""
    text = pair.handout.read_text()
    prefix = f"lab{int(pair.task_id):02d}"
    for name in re.findall(r"docker (?:run|create)[^\n]*?--name (\S+)", text):
        assert name.startswith(prefix + "-"), f"container {name} in {pair.handout.name}"
    for project in re.findall(r"docker compose -p (\S+)", text):
        assert project == prefix, f"compose project {project} in {pair.handout.name}"


def test_generator_conventions():
    text = "\n".join([
        "# Lab", "", "<!-- rubric:begin task=3 -->", "<!-- rubric:end -->", "",
        "```python", "# Setup", "print(1)", "```", "",
        "```bash", "# NBVAL_CHECK_OUTPUT", "echo hi", "```", "", "```output", "hi", "```", "",
        "See [lab 2](02-dockerfile-mlapp.md#healthcheck).", "",
        "```console", "$ docker login", "```", ""])
    nb = gen.build_notebook(text, name="99-test.md")
    kinds = [(c.cell_type, c.source.splitlines()[0]) for c in nb.cells]
    assert kinds[2:] == [("code", "# Setup"), ("code", "%%bash"), ("markdown", "See [lab 2](../labs/02-dockerfile-mlapp.md#healthcheck).")]
    assert "$ docker login" in nb.cells[-1].source  # console blocks stay text
    bash = nb.cells[3]
    assert bash.outputs[0].text == "hi\n" and bash.execution_count == 2
    rendered = gen.render_regions(text, load())
    assert "| [`3.context-size`](#measure-the-build-context) | 1 |" in rendered


@pytest.mark.parametrize("text, message", [
    ("```python\n# Setup\n```\n\n```bash\n# NBVAL_CHECK_OUTPUT\necho hi\n```\n", "needs an ```output block"),
    ("```python\n# Setup\n```\n\n```bash\necho hi\n```\n\n```output\nhi\n```\n", "without '# NBVAL_CHECK_OUTPUT'"),
    ("```bash\necho hi\n```\n", "first code block must be the Python setup cell"),
    ("---\ntitle: x\n---\n\n```python\n# Setup\n```\n", "front matter"),
])
def test_generator_rejects_broken_conventions(text, message):
    with pytest.raises(gen.SyncError, match=re.escape(message)):
        gen.build_notebook(text, name="99-test.md")


def test_sanitizers_parse_and_compile():
    from nbval.plugin import get_sanitize_patterns

    config = (REPO / "notebooks" / "sanitize.cfg").read_text()
    pairs = get_sanitize_patterns(config)
    assert len(pairs) == config.count("\nregex: "), "every regex line needs a 'replace: ' line right after it"
    sample = ("[   12.3s] build: Dockerfile.mlapp\n"
              "2.healthy               2/2   passed   status `healthy` 11 s after start (its HEALTHCHECK allows 55\n"
              "                                       s)\n"
              "Score: 8/8   (student mode, 1.7 s)\n"
              "listening on 0.0.0.0:5000 from 172.18.0.3, image 3f2a1bc4d5e6, 555MB, localhost:32781\n")
    for regex, replace in pairs:
        sample = re.sub(regex, replace, sample)
    assert sample == ("2.healthy               2/2   passed\nScore: 8/8   (student mode, <DURATION>)\n"
                      "listening on 0.0.0.0:5000 from <IP>, image <ID>, <SIZE>, localhost:<PORT>\n")
