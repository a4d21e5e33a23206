"""The batch runner's own rules, on real grading children of static tasks (fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.batch import records
from grader.batch.runner import parallelism_warning, selected_checks
from grader.cli import main
from grader.workspace import prepare

REPO = Path(__file__).resolve().parents[3]


def one_student_class(tmp_path: Path) -> Path:
    prepare(submission=REPO, dest=tmp_path / "class" / "ada", solution=True)
    return tmp_path / "class"


def test_a_submission_over_the_wall_clock_limit_is_a_timeout_row(tmp_path: Path, capsys):
    klass, out = one_student_class(tmp_path), tmp_path / "out"
    code = main(["batch", str(klass), "--out", str(out), "--task", "6", "--timeout", "0.2", "--grace", "30",
                 "--live", "no"])
    assert code == 1
    record = records.load(out, "ada")
    assert record.status == "timeout" and "--timeout" in record.reason
    assert record.score is None and record.run_id
    assert not any((out / ".work").iterdir()), "the stopped run's scratch folder was left behind"
    assert (out / "gradebook.csv").read_text().splitlines()[1].startswith("ada,timeout,,")
    # a timeout is final until the submission or the options change, or --force
    assert main(["batch", str(klass), "--out", str(out), "--task", "6", "--live", "no"]) == 1
    assert "1 unchanged" in capsys.readouterr().err
    assert main(["batch", str(klass), "--out", str(out), "--task", "6", "--live", "no", "--force"]) == 0
    regraded = records.load(out, "ada")
    assert (regraded.status, regraded.because, regraded.score) == ("graded", "forced", 16)
    assert "status timeout→graded" in regraded.changes
    assert len(records.history(out, "ada")) == 1


def test_changed_content_or_options_regrade_and_nothing_else(tmp_path: Path, capsys):
    klass, out = one_student_class(tmp_path), tmp_path / "out"
    argv = ["batch", str(klass), "--out", str(out), "--task", "6", "--live", "no"]
    assert main(argv) == 0
    first = records.load(out, "ada")
    assert main(argv) == 0 and records.load(out, "ada").run_id == first.run_id
    compose = klass / "ada" / "docker-compose.yml"
    compose.write_text(compose.read_text().replace("restart: unless-stopped", "restart: \"no\""))
    assert main(argv) == 0   # graded below full marks is still graded
    changed = records.load(out, "ada")
    assert changed.because == "content changed" and changed.run_id != first.run_id
    assert changed.score < first.score and "6.restart 2→0" in changed.changes
    assert main([*argv, "--task", "3"]) in (0, 1)
    assert records.load(out, "ada").because == "options changed"
    report = json.loads((out / "students" / "ada" / "report.json").read_text())
    assert {t["id"] for t in report["tasks"]} == {"3", "6"}
    capsys.readouterr()


def test_usage_errors_stop_before_grading(tmp_path: Path, capsys):
    out = tmp_path / "out"
    assert main(["batch", str(tmp_path / "missing"), "--out", str(out), "--task", "6"]) == 2
    assert "not a directory" in capsys.readouterr().err
    klass = one_student_class(tmp_path)
    assert main(["batch", str(klass), "--out", str(out), "--task", "42"]) == 2
    assert "unknown task" in capsys.readouterr().err


def test_run_id_option_names_the_run(tmp_path: Path, capsys):
    """`python -m grader --run-id HEX` (how the batch knows each child's run id for cleanup)."""
    klass = one_student_class(tmp_path)
    report = tmp_path / "r.json"
    assert main([str(klass / "ada"), "--task", "6", "--run-id", "0123456789ab", "--format", "json",
                 "--output", str(report)]) == 0
    assert json.loads(report.read_text())["run_id"] == "0123456789ab"
    for bad in ("XYZ", "12345", "0123456789abcdef0123456789abcdef0"):
        try:
            main([str(klass / "ada"), "--task", "6", "--run-id", bad])
        except SystemExit as exc:
            assert exc.code == 2
        else:
            raise AssertionError(f"--run-id {bad} was accepted")
    assert "--run-id must be" in capsys.readouterr().err


def test_parallel_stacks_beyond_the_cores_are_warned_about():
    everything = selected_checks(task_ids=(), instructor=True)
    static = selected_checks(task_ids=("3", "6"), instructor=True)
    assert "--jobs 1" in parallelism_warning(jobs=2, check_ids=everything, cpus=2)
    assert parallelism_warning(jobs=1, check_ids=everything, cpus=2) is None
    assert parallelism_warning(jobs=2, check_ids=everything, cpus=4) is None
    assert parallelism_warning(jobs=2, check_ids=static, cpus=2) is None   # builds and files only


@pytest.mark.docker
def test_the_batch_registry_lives_as_long_as_the_batch_and_a_killed_batch_s_is_recovered(tmp_path: Path,
                                                                                            docker_client):
    """One registry for the whole batch when a selected check pushes (issue 13); removed when the
    batch ends, and by the next run's recover() when the batch was killed before it could."""
    import urllib.request

    from grader.batch.runner import WORK, recover, shared_registry
    from grader.constants import LABEL_RUN

    def registries():
        return [c for c in docker_client.containers.list(all=True, filters={"label": LABEL_RUN})
                if c.name.endswith("-registry") and c.attrs["Config"]["Image"] == "registry:2"]

    before = {c.id for c in registries()}
    out = tmp_path / "out"
    with shared_registry(out, cli=docker_client, check_ids=["6.valid"]) as none:
        assert none is None and not (out / WORK).exists()      # nothing pushes: nothing started
    with shared_registry(out, cli=docker_client, check_ids=["6.valid", "8.push-pull"]) as shared:
        address = shared.address_for_a_grade()
        assert address and address.startswith("localhost:")
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=10) as answer:
            assert answer.status == 200
        assert len([c for c in registries() if c.id not in before]) == 1 and len(list((out / WORK).iterdir())) == 1
        shared.check()
        assert not shared.full
        shared.keep_bytes = 0          # past its storage cap: later grades start their own
        shared.check()
        assert shared.full and shared.address_for_a_grade() is None
    assert [c for c in registries() if c.id not in before] == [] and not any((out / WORK).iterdir())

    killed = shared_registry(out, cli=docker_client, check_ids=["8.push-pull"])
    killed.__enter__()   # the batch dies here: no __exit__
    (folder,) = (out / WORK).iterdir()
    assert recover(out, cli=docker_client, grace_s=1) == [folder.name]
    assert [c for c in registries() if c.id not in before] == [] and not any((out / WORK).iterdir())


def test_a_batch_registry_that_cannot_start_leaves_each_grade_its_own(tmp_path: Path, monkeypatch):
    from grader.batch import runner
    from grader.errors import ResourceError

    def refuse(*args, **kwargs):
        raise ResourceError("no registry:2 here")

    monkeypatch.setattr(runner.publish, "start_registry", refuse)
    swept = []
    monkeypatch.setattr(runner.engine, "sweep", lambda cli, run_id: swept.append(run_id) or [])
    out = tmp_path / "out"
    with runner.shared_registry(out, cli=object(), check_ids=["8.push-pull"]) as shared:
        assert shared is None
    assert not any((out / runner.WORK).iterdir()) and len(swept) == 1


def test_the_child_is_told_the_batch_registry(tmp_path: Path):
    import dataclasses

    from grader.batch import archives
    from grader.batch.runner import BatchOptions, Job, child_command

    job = Job(entry=archives.Entry(student="ada", path=tmp_path, kind="folder"), run_id="abc123",
              workdir=tmp_path / "w", because="new", previous=None, content_hash="x")
    options = BatchOptions(submissions=tmp_path, out=tmp_path / "out")
    assert "--registry" not in child_command(job, tmp_path, options)
    argv = child_command(job, tmp_path, dataclasses.replace(options, registry="localhost:5123"))
    assert argv[argv.index("--registry") + 1] == "localhost:5123"
    with pytest.raises(SystemExit) as refused:
        main(["--registry", "no-port", "--task", "6", str(REPO)])
    assert refused.value.code == 2
