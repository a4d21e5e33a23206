"""The student edition (`python -m grader release`, `make release`): what it contains, that no
reference content leaks into it, and that it works by itself.

The leak test decides "reference content" from the source, never from a list kept by hand
(grader.release.fingerprints): every line of `solutions/*` and of the hidden checks' modules of at
least 20 characters that does not also occur in what students legitimately get (the skeleton
deliverables, starter/, labs/; for the hidden modules also the other grader modules), the names
the hidden modules define, and the hidden rubric entries. Every file of the edition is searched,
notebooks by their decoded cells too. Then the reference, laid into a copy of the edition, must get
full marks from this repository's (instructor) grader: the edition left out nothing a correct
submission needs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest
import yaml

from grader import registry
from grader.errors import ReleaseError
from grader.release import (
    MANIFEST,
    MARKER,
    REWRITERS,
    Fingerprint,
    build,
    find_leaks,
    fingerprints,
    hidden_modules,
    load_manifest,
    makefile_targets,
    matches,
    notebook_clear_outputs,
    render,
    rubric_without_hidden,
    source_files,
    toml_drop_tables,
)
from grader.results import ERROR, PASSED
from grader.rubric import _parse, load
from tests.grader.dockerkit import leftovers
from tests.grader.editions import SOLUTIONS, run
from tests.test_workflows import actionlint

REPO = Path(__file__).resolve().parents[2]


def manifest():
    return load_manifest(REPO / MANIFEST)


def edition_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


# -- the manifest and its rules ------------------------------------------------------------------
def test_manifest_is_valid_and_leaves_out_the_reference_and_every_hidden_module():
    spec = manifest()
    assert all(r.kind in REWRITERS for r in spec.rewrites)
    assert all(any(matches(rel, p) for p in spec.secret) for rel in SOLUTIONS)
    modules = hidden_modules(load(), REPO)
    assert modules, "the rubric has hidden checks; their modules must be found"
    for path in modules.values():
        rel = path.relative_to(REPO).as_posix()
        assert any(matches(rel, p) for p in spec.secret), f"{rel} is a hidden check's module but not secret"


def test_hidden_checks_and_only_they_live_in_hidden_modules():
    """The rule the manifest's `grader/tasks/*_hidden.py` relies on."""
    registry.load_all()
    for spec in load().checks:
        module = registry.get(spec.id).func.__module__
        assert module.endswith("_hidden") == (spec.visibility == "hidden"), (spec.id, module)


@pytest.mark.parametrize(("rel", "pattern", "expected"), [
    ("solutions/Dockerfile.mlapp", "solutions/", True),
    ("solutionsX/Dockerfile", "solutions/", False),
    ("grader/tasks/t07_hidden.py", "grader/tasks/*_hidden.py", True),
    ("grader/tasks/t07_integration.py", "grader/tasks/*_hidden.py", False),
    ("notebooks/01-docker-basics.ipynb", "notebooks/*.ipynb", True),
    ("docs/grader-design.md", "docs/grader-design.md", True),
    ("docs/grader-report-schema.md", "docs/grader-design.md", False),
])
def test_patterns(rel, pattern, expected):
    assert matches(rel, pattern) is expected


@pytest.mark.parametrize(("content", "message"), [
    ("schema: 2\n", "schema: 1"),
    ("schema: 1\nsecrets: [solutions/]\n", "unknown key(s) secrets"),
    ("schema: 1\nrewrite: [{path: Makefile, with: magic}]\n", "each rewrite needs `path` and `with`"),
    ("schema: 1\nsecret: solutions/\n", "`secret` must be a list"),
    ("schema: [1\n", "not valid YAML"),
])
def test_a_bad_manifest_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "manifest.yaml"
    path.write_text(content)
    with pytest.raises(ReleaseError, match=None) as info:
        load_manifest(path)
    assert message in str(info.value)


# -- rewriters (pure) ------------------------------------------------------------------------------
def test_rubric_rewrite_drops_hidden_checks_and_keeps_comments_and_layout():
    original = (REPO / "grader" / "rubric.yaml").read_text()
    text = rubric_without_hidden(original, variables={})
    student, instructor = _parse(yaml.safe_load(text)), load()
    assert [c.id for c in student.checks] == [c.id for c in instructor.checks if c.visibility == "visible"]
    assert student.max_points() == student.max_points(instructor=True) == instructor.max_points() == 108
    assert student.hidden() == instructor.hidden() == (2, 3.0)        # the count survives, the entries do not
    assert student.task("7").hidden_checks == 1 and "7.survives-outage" not in text
    # Task 10's hidden planted faults: their file is no longer named, their number is.
    assert student.task("10").hidden_checks == 1 and "10.catches-git-in-image" not in text
    assert "hidden_chaffs:" not in text and "chaffs_hidden.yaml" not in text
    assert [c.id for c in student.task("10").chaffs] == [c.id for c in instructor.task("10").chaffs
                                                         if c.visibility == "visible"]
    # Comments and formatting are the original's: every line but the summaries comes from it.
    assert text.splitlines()[:5] == original.splitlines()[:5]
    added = [line for line in text.splitlines() if line not in original.splitlines()]
    assert added == ["    hidden: {checks: 1, points: 2}  # run only in the instructor's grading; not in this edition",
                     "    hidden: {checks: 1, points: 1}  # run only in the instructor's grading; not in this edition"]
    assert "\n\n  - id: \"8\"" in text                                # the blank line between tasks stays


def test_makefile_rewrite_keeps_only_the_students_targets(tmp_path):
    text = makefile_targets((REPO / "Makefile").read_text(), variables={},
                            keep=["help", "setup", "lab", "grade", "clean"], header="Student edition.")
    path = tmp_path / "Makefile"
    path.write_text(text)
    assert text.startswith("# Student edition.\n")
    assert ".PHONY: help setup lab grade clean\n" in text
    for gone in ("solutions", "DEMO_DIR", "PYTEST_OPTS", "grade-reference", "release", "test-notebooks"):
        assert gone not in text, gone
    listed = run("make", "-s", "-f", str(path), "help", cwd=tmp_path)
    assert listed.returncode == 0
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["help", "setup", "lab", "grade", "clean"]
    assert run("make", "-n", "-f", str(path), "grade", cwd=tmp_path).stdout.strip() == ".venv/bin/python -m grader"
    assert run("make", "-n", "-f", str(path), "test", cwd=tmp_path).returncode != 0
    with pytest.raises(ReleaseError, match="no target"):
        makefile_targets("all:\n\ttrue\n", variables={}, keep=["all", "missing"])


def test_notebook_rewrite_clears_outputs_and_keeps_every_cell():
    path = REPO / "notebooks" / "07-integrated-stack.ipynb"
    before = nbformat.read(path, as_version=4)
    after = nbformat.reads(notebook_clear_outputs(path.read_text(), variables={}), as_version=4)
    assert any(c.get("outputs") for c in before.cells)
    assert [c.source for c in after.cells] == [c.source for c in before.cells]
    assert all(c.outputs == [] and c.execution_count is None for c in after.cells if c.cell_type == "code")


def test_toml_rewrite_drops_the_import_contracts_with_their_comment():
    import tomllib

    original = (REPO / "pyproject.toml").read_text()
    text = toml_drop_tables(original, variables={}, tables=["tool.importlinter"])
    data = tomllib.loads(text)
    assert "importlinter" not in data["tool"] and "t07_hidden" not in text and "layers" not in text
    assert data["tool"]["pytest"] == tomllib.loads(original)["tool"]["pytest"]
    assert data["tool"]["ruff"] == tomllib.loads(original)["tool"]["ruff"]
    with pytest.raises(ReleaseError, match="no table"):
        toml_drop_tables(original, variables={}, tables=["tool.nothing"])


def test_render_replaces_known_variables_and_refuses_unknown_ones():
    assert render("out of @@student_points@@ points", {"student_points": "98"}, where="x") == "out of 98 points"
    assert render("${{ github.ref }} $status", {}, where="x") == "${{ github.ref }} $status"
    with pytest.raises(ReleaseError, match="README.md: unknown template variable"):
        render("@@nope@@", {"student_points": "98"}, where="README.md")


# -- the destination is never lost ------------------------------------------------------------------
def test_destination_rules(tmp_path):
    with pytest.raises(ReleaseError, match="overlaps the repository"):
        build(dest=REPO / "build" / "se")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ReleaseError, match="is not an earlier student edition"):
        build(dest=foreign)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    first = build(dest=tmp_path / "se")
    (tmp_path / "se" / "stale.txt").write_text("from an earlier release")
    second = build(dest=tmp_path / "se", fail_below_full=True)   # an earlier edition is replaced
    assert first.files == second.files and not (tmp_path / "se" / "stale.txt").exists()
    assert yaml.safe_load((tmp_path / "se" / MARKER).read_text())["fail_below_full"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign", "se"], "no work folder is left behind"


# -- what the edition contains ----------------------------------------------------------------------
def test_the_edition_has_what_students_need_and_nothing_else(edition):
    spec = manifest()
    files = source_files(REPO)
    kept = {rel for rel in files if not any(matches(rel, p) for p in spec.excluded)}
    overlay = {p.relative_to(REPO / spec.overlay).as_posix() for p in (REPO / spec.overlay).rglob("*") if p.is_file()}
    assert edition_files(edition) == kept | overlay | {MARKER}
    for needed in ("Dockerfile.mlapp", "docker-compose.yml", ".dockerignore", "starter/src/churn/app.py",
                   "labs/07-integrated-stack.md", "notebooks/07-integrated-stack.ipynb", "grader/rubric.yaml",
                   "scripts/setup/setup.sh", ".devcontainer/devcontainer.json", "requirements-dev.txt",
                   ".github/workflows/grade.yml", "Makefile", "README.md"):
        assert (edition / needed).is_file(), needed
    for gone in ("solutions", "tests", "benchmarks", "release", ".ci", "grader/tasks/t07_hidden.py",
                 "docs/grader-design.md", "scripts/test-notebooks.sh"):
        assert not (edition / gone).exists(), gone
    for rel in edition_files(edition):                   # starter, labs and skeletons are byte for byte the same
        if rel.startswith(("starter/", "labs/", "Dockerfile.", "docker-compose.yml")):
            assert (edition / rel).read_bytes() == (REPO / rel).read_bytes(), rel
    readme = (edition / "README.md").read_text()
    assert "out of\n**108** points" in readme and "2 hidden checks worth 3 points" in readme
    assert "@@" not in readme + (edition / ".github/workflows/grade.yml").read_text()
    assert yaml.safe_load((edition / MARKER).read_text())["edition"] == "student"


def test_no_reference_content_leaks_into_the_edition(edition):
    """The leak test, part 1: no fingerprint of solutions/ or of the hidden check in any file."""
    prints = fingerprints(source=REPO, manifest=manifest())
    origins = {p.origin.split(":")[0] for p in prints}
    assert set(SOLUTIONS) <= origins, "every reference file yields fingerprints"
    assert "grader/tasks/t07_hidden.py" in origins
    texts = {p.text for p in prints}
    assert {"survives_outage", "t07_hidden", "7.survives-outage"} <= texts
    assert "The API keeps predicting while MLflow is down" in texts
    leaks = find_leaks(edition, prints)
    assert leaks == [], "\n".join(map(str, leaks))


def test_fingerprints_are_what_students_do_not_legitimately_get():
    prints = fingerprints(source=REPO, manifest=manifest())
    texts = {p.text for p in prints}
    # in the skeletons, labs or starter: not a sign of the reference
    for legit in ('FROM python:3.11-slim-bookworm', 'CMD ["gunicorn", "--config", "python:churn.gunicorn_conf", '
                  '"churn.wsgi:app"]', "condition: service_healthy", "from grader.registry import check"):
        assert legit not in texts, legit
    secret = manifest().secret   # labs/states: answers, not students' material
    material = " ".join(" ".join((REPO / rel).read_text().split()) for rel in source_files(REPO)
                        if rel.startswith(("starter/", "labs/")) and rel.endswith((".md", ".py", ".txt"))
                        and not any(matches(rel, p) for p in secret))
    assert not [p for p in prints if p.text in material]
    assert all(len(p.text) >= 20 for p in prints if p.kind == "line")


def test_the_leak_search_finds_planted_reference_content(edition, tmp_path):
    copy = tmp_path / "edition"
    shutil.copytree(edition, copy, symlinks=True)
    prints = fingerprints(source=REPO, manifest=manifest())
    number, mlflow_line = next((n, line) for n, line in enumerate((REPO / "solutions/Dockerfile.mlflow").read_text()
                                                                   .splitlines(), 1) if "--allowed-hosts\", " in line)
    with open(copy / "README.md", "a") as fh:
        fh.write(f"\n    {mlflow_line}\n")                          # pasted, indented differently
    notebook = nbformat.read(copy / "notebooks/05-dockerfile-mlflow.ipynb", as_version=4)
    hint = load().check("7.survives-outage").hint
    notebook.cells.append(nbformat.v4.new_markdown_cell(f'Tip: "{hint}"'))   # escaped inside JSON
    nbformat.write(notebook, copy / "notebooks/05-dockerfile-mlflow.ipynb")
    shutil.copy(REPO / "grader/tasks/t07_hidden.py", copy / "grader/tasks/t07_extra.py")
    found = {(leak.path, leak.fingerprint.origin) for leak in find_leaks(copy, prints)}
    assert ("README.md", f"solutions/Dockerfile.mlflow:{number}") in found
    assert ("notebooks/05-dockerfile-mlflow.ipynb", "hidden rubric entry 7.survives-outage (hint)") in found
    assert {origin for path, origin in found if path == "grader/tasks/t07_extra.py"} >= {
        "grader.tasks.t07_hidden defines it", "hidden rubric entry 7.survives-outage"}
    blob = copy / "starter/models/extra.bin"
    blob.write_bytes(b"\x00\xffsecret weights")
    digest = Fingerprint(kind="sha256", text=hashlib.sha256(blob.read_bytes()).hexdigest(), origin="x")
    assert [leak.path for leak in find_leaks(copy, (digest,))] == ["starter/models/extra.bin"]


def test_a_new_secret_file_is_covered_by_one_manifest_line(tmp_path):
    """Issue 15's hidden "chaffs": one `secret:` line leaves the file out and fingerprints it, so a
    copy of its content elsewhere stops the release (and nothing is written)."""
    source = tmp_path / "kit"                     # a copy of the repository, not a git checkout
    for rel in source_files(REPO):
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, source / rel, follow_symlinks=False)
    chaff = "labs/data/chaff-hidden.csv"
    (source / chaff).parent.mkdir(parents=True, exist_ok=True)
    (source / chaff).write_text("customer_id,tenure_months,churned\nC999001,61,planted-by-the-instructor\n")
    spec = source / MANIFEST
    spec.write_text(spec.read_text().replace("secret:\n", f"secret:\n  - {chaff}\n", 1))
    report = build(dest=tmp_path / "se", source=source)
    assert chaff in report.left_out and not (tmp_path / "se" / chaff).exists()
    with open(source / "docs/grader-report-schema.md", "a") as fh:
        fh.write("\nC999001,61,planted-by-the-instructor\n")
    with pytest.raises(ReleaseError) as info:
        build(dest=tmp_path / "se2", source=source)
    assert f"docs/grader-report-schema.md: line from {chaff}:2" in str(info.value)
    assert not (tmp_path / "se2").exists()


# -- the workflow ------------------------------------------------------------------------------------
def test_the_rendered_workflows_pass_actionlint(edition, tmp_path):
    strict = build(dest=tmp_path / "strict", fail_below_full=True).dest
    for root, policy in ((edition, "false"), (strict, "true")):
        workflow = root / ".github/workflows/grade.yml"
        assert yaml.safe_load(workflow.read_text())["env"]["FAIL_BELOW_FULL"] == policy
        done = actionlint(workflow)
        assert done.returncode == 0, done.stdout + done.stderr
    assert "fails the job below full marks" in (strict / "README.md").read_text()


def steps(workflow: Path) -> dict:
    return {step["name"]: step for step in yaml.safe_load(workflow.read_text())["jobs"]["grade"]["steps"]}


@pytest.mark.parametrize(("status", "fail_below_full", "job_fails"), [
    ("0", "false", False), ("0", "true", False), ("1", "false", False), ("1", "true", True),
    ("2", "false", True), ("3", "false", True), ("", "false", True),
])
def test_the_workflow_fails_below_full_marks_only_when_the_release_asked(status, fail_below_full, job_fails, tmp_path):
    script = steps(REPO / "release/student/.github/workflows/grade.yml")["Result"]["run"]
    done = run("bash", "-e", "-c", script, cwd=tmp_path, env={"STATUS": status, "FAIL_BELOW_FULL": fail_below_full})
    assert (done.returncode != 0) is job_fails, done.stdout + done.stderr


def test_the_workflow_runs_the_grader_and_keeps_every_report():
    workflow = yaml.safe_load((REPO / "release/student/.github/workflows/grade.yml").read_text())
    assert "push" in workflow.get("on", workflow.get(True))          # PyYAML reads the key `on` as True
    by_name = steps(REPO / "release/student/.github/workflows/grade.yml")
    uses = [s["uses"] for s in by_name.values() if "uses" in s]
    assert uses == ["actions/checkout@v5", "actions/setup-python@v6", "actions/upload-artifact@v6"]
    assert by_name["Set up Python 3.11"]["with"]["python-version"] == "3.11"
    assert by_name["Set up the kit (venv, Docker check, Compose v2, base images)"]["run"] == "make setup"
    assert by_name["Upload the JSON and JUnit reports"]["with"]["path"].split() == [
        "grader-results/report.json", "grader-results/junit.xml"]


# -- the editions' behaviour ------------------------------------------------------------------------
@pytest.mark.parametrize("args", [["--solution"], ["--instructor", "--task", "2"], ["rubric", "--instructor"],
                                  ["workspace", "--solution", "--dest", "/tmp/never-written"],
                                  ["release", "--dest", "/tmp/never-written"]])
def test_the_student_edition_says_instructor_options_belong_to_the_instructor_edition(edition, args):
    done = run(sys.executable, "-m", "grader", *args, cwd=edition)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "belongs to the instructor edition of the kit" in done.stderr
    assert not Path("/tmp/never-written").exists()


def test_pytest_grader_in_the_student_edition_refuses_instructor_options(edition):
    done = run(sys.executable, "-m", "pytest", "grader", "--instructor", "-p", "no:cacheprovider", cwd=edition)
    assert done.returncode == 4, done.stdout + done.stderr         # pytest's usage error
    assert "`pytest grader --instructor` belongs to the instructor edition" in done.stderr


def test_the_student_editions_rubric_has_no_hidden_check(edition):
    done = run(sys.executable, "-m", "grader", "rubric", "--format", "json", cwd=edition)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["max_score"] == 108
    assert all(c["visibility"] == "visible" for t in data["tasks"] for c in t["checks"])


def test_the_instructor_edition_keeps_instructor_options():
    done = run(sys.executable, "-m", "grader", "rubric", "--instructor", "--format", "json", cwd=REPO)
    assert done.returncode == 0 and json.loads(done.stdout)["max_score"] == 111


def layered_venv(root: Path) -> Path:
    """`root/.venv`: a venv that sees this test's installed packages (a .pth file) without copying
    them, so the edition's own `make setup` takes its real path quickly and never touches the
    shared venv."""
    venv = root / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    purelib = Path(subprocess.run([str(venv / "bin/python"), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                   "['purelib'])"], capture_output=True, text=True, check=True).stdout.strip())
    (purelib / "kit-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    for tool in ("hadolint", "jupyter"):
        (venv / "bin" / tool).symlink_to(Path(sys.executable).with_name(tool))
    return venv


@pytest.mark.docker
@pytest.mark.slow
def test_the_edition_sets_itself_up_and_grades_the_skeleton(edition, tmp_path):
    copy = tmp_path / "student"
    shutil.copytree(edition, copy, symlinks=True)
    venv = layered_venv(copy)
    setup = run("make", "setup", cwd=copy, timeout=900)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert "Docker engine answers" in setup.stdout and "Compose" in setup.stdout
    assert (venv / ".requirements.sha256").is_file(), "the venv step ran and recorded what it installed"
    again = run("make", "setup", cwd=copy, timeout=300)
    assert again.returncode == 0 and "is up to date" in again.stdout

    graded = run(str(venv / "bin/python"), "-m", "grader", "--format", "json", cwd=copy)
    assert graded.returncode == 1, graded.stderr                        # graded, below full marks
    report = json.loads(graded.stdout)
    assert (report["score"], report["max_score"], report["mode"]) == (0, 108, "student")
    assert len(report["tasks"]) == 9 and not report["errors"]
    for task in report["tasks"]:
        for check in task["checks"]:
            assert check["status"] != ERROR and check["hint"] and check["section"], check["id"]
    assert "2 hidden checks (3 points)" in graded.stderr

    tests = run(str(venv / "bin/python"), "-m", "pytest", "grader", "-q", "-p", "no:cacheprovider", cwd=copy)
    assert tests.returncode == 1 and "47 failed" in tests.stdout, tests.stdout[-2000:]

    # The workflow's own steps, run here as the hosted runner would (after `make setup`).
    by_name = steps(copy / ".github/workflows/grade.yml")
    output, summary = tmp_path / "github_output", tmp_path / "step_summary"
    env = {"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary), "FAIL_BELOW_FULL": "false"}
    step = run("bash", "-e", "-c", by_name["Grade"]["run"], cwd=copy, env=env)
    assert step.returncode == 0, step.stdout + step.stderr
    assert output.read_text() == "status=1\n"
    step = run("bash", "-e", "-c", by_name["Write the report to the job summary"]["run"], cwd=copy, env=env)
    assert step.returncode == 0 and "Score: 0/108" in summary.read_text()
    assert json.loads((copy / "grader-results/report.json").read_text())["max_score"] == 108
    assert (copy / "grader-results/junit.xml").read_text().startswith("<?xml")


def test_the_editions_notebooks_are_clean_and_start_in_the_edition(edition, tmp_path):
    from nbclient import NotebookClient

    setup_cells = []
    paths = sorted((edition / "notebooks").glob("*.ipynb"))
    assert [p.name for p in paths] == sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        ours = nbformat.read(REPO / "notebooks" / path.name, as_version=4)
        assert [c.source for c in notebook.cells] == [c.source for c in ours.cells]
        assert all(not c.outputs for c in notebook.cells if c.cell_type == "code"), path.name
        setup_cells.append(nbformat.v4.new_code_cell(next(c.source for c in notebook.cells if c.cell_type == "code")))
    # Every notebook's setup cell (its first code cell), run in a kernel started in the edition's
    # notebooks/ folder, finds the edition as the lab's root.
    assert "LAB_ROOT" not in os.environ, "the setup cells would follow LAB_ROOT instead"
    notebook = nbformat.v4.new_notebook(cells=setup_cells)
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(edition / "notebooks")}}).execute()
    for path, cell in zip(paths, notebook.cells, strict=True):
        printed = "".join(o.get("text", "") for o in cell.outputs)
        assert f"lab root: {edition.resolve()}" in printed, (path.name, cell.outputs)


@pytest.mark.docker
def test_the_reference_laid_into_the_edition_gets_full_marks(reference_run, docker_client):
    """The leak test, part 2: the instructor's grader gives the reference, in the edition, full marks.

    The session's one graded reference (tests/conftest.py `reference_run`) is this grade: the reference
    laid into the edition `make release` wrote, graded in instructor mode (issue 13: one graded
    reference across the suite)."""
    report, observer = reference_run
    assert observer.submission.parent.name.startswith("reference-in-edition")
    problems = {c.id: f"{c.status}: {c.message} | {c.found}" for c in report.checks if c.status != PASSED}
    assert not problems, problems
    assert report.score == report.max_score == 111 and not report.errors
    assert {c.id for c in report.checks} == {c.id for c in load().checks}
    assert leftovers(docker_client, report.run_id) == []
