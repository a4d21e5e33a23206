"""Task 3 checks: planted markers, .dockerignore categories, context size, a clean image."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from grader.tasks import t03_dockerignore as t03
from grader.workspace import plant_markers
from tests.grader.dockerkit import variant_run


class Static:
    def __init__(self, workdir: Path):
        self.workdir = workdir


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return h.hexdigest()


def test_plant_markers_is_deterministic_and_small(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for root in (first, second):
        root.mkdir()
        plant_markers(root)
    assert _digest(first) == _digest(second)
    total = sum(p.stat().st_size for p in first.rglob("*") if p.is_file())
    assert 3_000_000 < total < 5_000_000  # data/raw makes a context without .dockerignore too big
    for rel in (".git/HEAD", ".venv/pyvenv.cfg", "venv/pyvenv.cfg", "__pycache__/x.pyc", ".pytest_cache/v/cache/nodeids",
                "notebooks/mlops-grader-marker", "tests/mlops-grader-marker", "data/raw/customers.csv",
                "mlruns/0/meta.yaml", "logs/previous-run.log"):
        assert (first / rel).is_file(), rel


def _ignore(tmp_path: Path, text: str | None):
    if text is not None:
        (tmp_path / ".dockerignore").write_text(text)
    return t03.ignore_categories(Static(tmp_path))


def test_reference_dockerignore_excludes_every_category(repo, tmp_path):
    outcome = _ignore(tmp_path, (repo / "solutions" / ".dockerignore").read_text())
    assert outcome.passed and outcome.message == f"all {len(t03.CATEGORIES)} categories are excluded"


def test_top_level_only_cache_patterns_get_partial_credit(tmp_path):
    text = ".git\n.venv\nvenv\n__pycache__\n*.pyc\n.pytest_cache\nnotebooks\nlabs\ntests\ndata/raw\nmlruns\n"
    outcome = _ignore(tmp_path, text)
    assert not outcome.passed
    assert outcome.partial == "categories" and outcome.measure == pytest.approx(7 / 9)
    assert "Python caches (**/__pycache__, **/*.pyc, .pytest_cache): `starter/src/churn/__pycache__/app.cpython-311.pyc`" in outcome.found
    assert "logs: `logs/previous-run.log` stays in the context" in outcome.found
    assert "matches only at the top of the context" in outcome.found


def test_empty_or_missing_dockerignore_scores_zero(tmp_path):
    outcome = _ignore(tmp_path, None)
    assert not outcome.passed and outcome.partial is None and "missing or has only comments" in outcome.found
    assert not _ignore(tmp_path, "# only a comment\n\n").passed


def test_allowlist_style_counts_and_notes_lost_files(tmp_path):
    outcome = _ignore(tmp_path, "*\n!starter/src\n!starter/requirements.txt\n**/__pycache__\n")
    assert outcome.passed and "also excludes starter/models/churn-model.joblib" in outcome.message


def test_context_size_reference_and_skeleton(reference, submission):
    for root in (reference, submission):
        plant_markers(root)
    ref_size, ref_biggest = t03.context_size(reference)
    skeleton_size, biggest = t03.context_size(submission)
    # the kit's own repository (docs, scripts, release) is in the reference's context: keep a margin
    assert ref_size < t03.CONTEXT_BUDGET / 2, ref_biggest
    assert skeleton_size > t03.CONTEXT_BUDGET and next(iter(biggest)) == "data"
    outcome = t03.context_small(Static(submission))
    assert not outcome.passed and "biggest: data 3.8 MB" in outcome.found
    assert t03.context_small(Static(reference)).passed


@pytest.mark.docker
def test_reference_image_is_clean(reference_run):
    results = {c.id: c for c in reference_run[0].checks if c.task_id == "3"}
    assert {i: c.message for i, c in results.items() if not c.passed} == {}
    assert results["3.context-size"].message.startswith("the build context is 0.")


@pytest.mark.docker
def test_copy_everything_without_dockerignore_ships_the_clutter():
    r = variant_run("clutter").results
    clean = r["3.image-clean"]
    assert clean.status == "failed" and clean.score == 0
    for path in ("/app/.git", "/app/.venv", "/app/venv", "/app/tests", "/app/notebooks", "/app/data/raw", "/app/mlruns"):
        assert path in clean.found, path
    assert r["3.ignore-patterns"].score == 0 and r["3.context-size"].status == "failed"
