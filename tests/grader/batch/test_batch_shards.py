"""--shard I/N is deterministic and partitions the class; `gradebook merge` puts shards together. No engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.batch import records, shards
from grader.cli import main
from tests.grader.batch.batchkit import write_batch_json, write_student

CLASS = [f"student{i:03d}" for i in range(300)]


def test_every_student_is_in_exactly_one_shard_and_always_the_same():
    for count in (1, 2, 3, 7):
        members = [{s for s in CLASS if s in shards.Shard(i, count)} for i in range(1, count + 1)]
        assert set().union(*members) == set(CLASS)
        assert sum(len(m) for m in members) == len(CLASS)
    # Fixed values: the share of a student never depends on the run, the machine or the class list.
    assert [shards.shard_of(s, 4) for s in ("ada", "babbage", "curie")] == \
           [shards.shard_of(s, 4) for s in ("ada", "babbage", "curie")]
    assert shards.shard_of("ada", 4) == int.from_bytes(__import__("hashlib").sha256(b"ada").digest()[:8], "big") % 4 + 1
    sizes = [sum(s in shards.Shard(i, 4) for s in CLASS) for i in range(1, 5)]
    assert min(sizes) > 50, sizes   # roughly balanced on 300 students


@pytest.mark.parametrize("text", ["0/4", "5/4", "2", "a/b", "2/0", ""])
def test_bad_shard_specs_say_how(text):
    with pytest.raises(ValueError, match="--shard"):
        shards.parse(text)


def test_merge_puts_shards_together_and_writes_one_gradebook(tmp_path: Path):
    one, two = tmp_path / "shard1", tmp_path / "shard2"
    write_batch_json(one, shard="1/2")
    write_batch_json(two, shard="2/2")
    write_student(one, "ada")
    write_student(two, "bob", {"6.network": "the API and MLflow services share no declared network"})
    write_student(two, "ada", {"6.restart": "no"}, finished_at="2026-11-20T00:00:00+00:00")   # older duplicate
    out = tmp_path / "class"
    assert main(["gradebook", "merge", str(one), str(two), "--out", str(out)]) == 0
    assert [r.student for r in records.load_all(out)] == ["ada", "bob"]
    assert records.load(out, "ada").score == 24          # the newest grade of ada won
    assert (out / "students" / "bob" / "report.json").exists()
    gradebook = (out / "gradebook.csv").read_text().splitlines()
    assert len(gradebook) == 3 and gradebook[0].startswith("id,status,total,max,task_3,task_6")
    assert (out / "canvas.csv").read_text().splitlines()[1].startswith("Points Possible")
    meta = json.loads((out / "batch.json").read_text())
    assert [s["shard"] for s in meta["shards"]] == ["1/2", "2/2"]
    # merging again (e.g. after a shard was re-run) is idempotent
    assert main(["gradebook", "merge", str(one), str(two), "--out", str(out)]) == 0
    assert [r.student for r in records.load_all(out)] == ["ada", "bob"]


def test_merge_refuses_shards_graded_with_different_options(tmp_path: Path, capsys):
    one, two = tmp_path / "a", tmp_path / "b"
    write_batch_json(one, options_hash="o1")
    write_batch_json(two, options_hash="o2")
    assert main(["gradebook", "merge", str(one), str(two), "--out", str(tmp_path / "c")]) == 2
    assert "different options" in capsys.readouterr().err
    assert main(["gradebook", "merge", str(tmp_path / "nope"), "--out", str(tmp_path / "c")]) == 2
