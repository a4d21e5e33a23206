"""The command line: parsing and exit codes (pure), subcommands, and real runs in a subprocess."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from grader import cli, commands
from grader.constants import LABEL_GRADER, LABEL_RUN, NO_ENGINE
from grader.options import DEFAULT_TIME_BUDGET, Limits
from grader.progress import Progress
from grader.reporters import json_report
from grader.results import CheckResult, GradeReport, TaskResult

REPO = Path(__file__).resolve().parents[2]


def grader(*args: str, cwd: Path = REPO, timeout: float = 300, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **env})


def report(*statuses: str, errors=()) -> GradeReport:
    checks = tuple(CheckResult(id=f"2.c{i}", task_id="2", title="t", status=s, score=2 if s == "passed" else 0,
                               max_score=2, message="m", expected=None, found=None, hint=None, section="labs/x.md",
                               visibility="visible") for i, s in enumerate(statuses))
    return GradeReport(run_id="0123abcdef", submission="/s", mode="student", grader_version="1", started_at="x",
                       duration_s=1.0, tasks=(TaskResult(id="2", title="t", section="labs/x.md", checks=checks),),
                       errors=tuple(errors))


# -- pure logic ------------------------------------------------------------------------------
def test_exit_codes():
    assert cli.exit_code(report("passed", "passed")) == cli.EXIT_FULL == 0
    assert cli.exit_code(report("passed", "failed")) == cli.EXIT_PARTIAL == 1
    assert cli.exit_code(report("passed", "failed", errors=(NO_ENGINE,))) == cli.EXIT_CANNOT_GRADE == 2
    assert cli.exit_code(report("passed", "error", errors=(NO_ENGINE,))) == cli.EXIT_GRADER_ERROR == 3
    assert cli.exit_code(report("passed", errors=("cleanup: removing network x: busy",))) == 0


def test_grade_options_parse():
    args = cli.grade_parser().parse_args(["sub", "--solution", "--task", "2", "--task", "3", "--instructor",
                                          "--format", "junit", "--output", "r.xml", "--keep",
                                          "--timeout-scale", "2.5", "--workroot", "/w", "-vv"])
    assert (args.submission, args.solution, args.tasks, args.instructor) == ("sub", True, ["2", "3"], True)
    assert (args.format, args.output, args.keep, args.timeout_scale) == ("junit", Path("r.xml"), True, 2.5)
    assert (args.workroot, args.verbose) == (Path("/w"), 2)
    defaults = cli.grade_parser().parse_args([])
    assert (defaults.submission, defaults.format, defaults.tasks) == (".", None, [])
    assert cli.report_format(defaults.format, defaults.output) == "text"  # no --format, no --output


def test_limits_and_cache_options_reach_the_run():
    args = cli.grade_parser().parse_args(["sub", "--limit-memory", "1g", "--limit-cpus", "1.5",
                                          "--limit-pids", "256", "--no-cache", "--instructor"])
    options = cli.options_from_args(args, submission=Path("sub"))
    assert (options.limits.memory, options.limits.cpus, options.limits.pids) == ("1g", 1.5, 256)
    assert options.no_cache and options.instructor and options.submission == Path("sub")
    defaults = cli.options_from_args(cli.grade_parser().parse_args([]), submission=Path("."))
    assert defaults.limits.memory is None and not defaults.no_cache


def test_instructor_mode_limits_by_default_and_each_option_overrides():
    def options(*argv):
        return cli.options_from_args(cli.grade_parser().parse_args(["sub", *argv]), submission=Path("sub"))

    instructor = options("--instructor")
    assert instructor.limits == Limits.defaults() and instructor.time_budget == DEFAULT_TIME_BUDGET
    assert options().limits == Limits() and options().time_budget is None          # student mode: off
    assert options("--instructor", "--no-limits").limits == Limits()
    assert options("--instructor", "--no-limits").time_budget is None
    tuned = options("--instructor", "--limit-memory", "4g", "--limit-build", "60", "--time-budget", "90",
                    "--keep-storage", "2g")
    assert (tuned.limits.memory, tuned.limits.build, tuned.limits.pids) == ("4g", 60, Limits.defaults().pids)
    assert (tuned.time_budget, tuned.keep_storage) == (90, "2g")
    assert options("--limit-pids", "64").limits == Limits(pids=64)                  # any mode, one limit
    assert options("--limits").limits == Limits.defaults()                          # what batch asks for


def test_limit_options_are_checked(capsys):
    for argv in (["--limit-memory", "lots"], ["--keep-storage", "1x"], ["--time-budget", "0"]):
        with pytest.raises(SystemExit) as exited:
            cli.main(["sub", *argv])
        assert exited.value.code == 2
    assert "--limit-memory: not a size" in capsys.readouterr().err


def test_warnings_do_not_change_the_exit_code():
    assert cli.exit_code(report("passed", errors=("warning: service api: `sysctls: a=1` (...)",))) == 0


def test_link_base_only_in_github_actions():
    env = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r", "GITHUB_SHA": "abc"}
    assert cli.link_base(env) == "https://github.com/o/r/blob/abc"
    assert cli.link_base({}) is None


def test_second_ctrl_c_does_not_cut_the_teardown_short(capsys):
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with cli.protected_teardown():
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1)  # the handler raises here
            finally:
                os.kill(os.getpid(), signal.SIGINT)   # pressed again during teardown: ignored
                time.sleep(0.1)
                finished.append(True)
    assert finished == [True]
    assert "still cleaning up" in capsys.readouterr().err


# -- commands that need no engine ------------------------------------------------------------
def test_help_documents_exit_codes_and_commands():
    done = grader("--help")
    assert done.returncode == 0
    for text in ("exit codes:", "130", "doctor", "rubric", "workspace", "cleanup", "GITHUB_OUTPUT"):
        assert text in done.stdout


def test_not_a_submission_cannot_be_graded(tmp_path, capsys):
    assert cli.main([str(tmp_path)]) == cli.EXIT_CANNOT_GRADE
    assert "is not a lab submission" in capsys.readouterr().err
    assert cli.main([str(tmp_path / "missing")]) == cli.EXIT_CANNOT_GRADE
    assert "missing does not exist" in capsys.readouterr().err
    (tmp_path / "file.txt").write_text("x")
    assert cli.main([str(tmp_path / "file.txt")]) == cli.EXIT_CANNOT_GRADE
    assert "is a file, not a folder" in capsys.readouterr().err


def test_unknown_task_is_a_usage_error(capsys):
    assert cli.main([str(REPO), "--task", "42"]) == cli.EXIT_CANNOT_GRADE
    assert "unknown task id" in capsys.readouterr().err


def test_a_missing_reference_dockerfile_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([str(REPO), "--instructor", "--reference-dockerfile", str(tmp_path / "nope")])
    assert info.value.code == 2 and "--reference-dockerfile" in capsys.readouterr().err


def test_rubric_command(capsys):
    assert cli.main(["rubric", "--format", "json"]) == 0
    student = json.loads(capsys.readouterr().out)
    assert cli.main(["rubric", "--format", "json", "--instructor"]) == 0
    instructor = json.loads(capsys.readouterr().out)
    assert (student["max_score"], instructor["max_score"]) == (108, 111)
    assert cli.main(["rubric", "--task", "3"]) == 0
    out = capsys.readouterr().out
    assert "3.ignore-patterns" in out and "2.builds" not in out and "Total: 8 points" in out


def test_workspace_writes_the_reference_without_markers(tmp_path, capsys):
    dest = tmp_path / "demo"
    assert cli.main(["workspace", str(REPO), "--solution", "--dest", str(dest)]) == 0
    assert capsys.readouterr().out.strip() == str(dest.resolve())
    for name in ("Dockerfile.mlapp", "Dockerfile.mlflow", "docker-compose.yml"):
        assert (dest / name).read_bytes() == (REPO / "solutions" / name).read_bytes()
    assert not (dest / ".git").exists() and not (dest / "mlruns").exists() and not (dest / ".venv").exists()
    assert cli.main(["workspace", str(REPO), "--solution", "--dest", str(dest)]) == 0   # replaces its own copy


def test_workspace_refuses_to_replace_what_it_did_not_write(tmp_path, capsys):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    assert cli.main(["workspace", str(REPO), "--dest", str(precious)]) == 2
    assert cli.main(["workspace", str(REPO), "--dest", str(REPO)]) == 2
    assert cli.main(["workspace", str(REPO), "--dest", str(REPO.parent)]) == 2
    assert (precious / "notes.txt").read_text() == "keep me"
    assert "refusing" in capsys.readouterr().err


def test_skeleton_task6_scores_zero_as_json(submission):
    """Static checks only: runs anywhere. Default SUBMISSION_DIR is the current directory."""
    done = grader("--task", "6", "--format", "json", cwd=submission)
    assert done.returncode == cli.EXIT_PARTIAL, done.stderr
    data = json.loads(done.stdout)
    json_report.validate(data)
    assert [t["id"] for t in data["tasks"]] == ["6"]
    assert data["score"] == 0 and data["max_score"] == 16
    assert all(c["status"] == "failed" and c["hint"] for c in data["tasks"][0]["checks"])
    assert "Score: 0/16" in done.stderr and "What to fix" in done.stderr   # the summary for CI logs
    assert "\x1b[" not in done.stderr


def test_output_file_and_markdown(submission, tmp_path):
    out = tmp_path / "results" / "summary.md"
    done = grader(str(submission), "--task", "6", "--format", "markdown", "--output", str(out))
    assert done.returncode == cli.EXIT_PARTIAL, done.stderr
    assert done.stdout == ""
    assert out.read_text().startswith("## Docker for MLOps grader — Score: 0/16")


def test_output_extension_chooses_the_format_unless_format_is_given(submission, tmp_path):
    assert cli.report_format(None, Path("r.JSON")) == "json" and cli.report_format(None, Path("r.xml")) == "junit"
    assert cli.report_format(None, Path("r.md")) == "markdown" and cli.report_format(None, Path("r.txt")) == "text"
    assert cli.report_format(None, None) == "text" and cli.report_format("gradescope", Path("r.json")) == "gradescope"
    out = tmp_path / "report.json"
    done = grader(str(submission), "--task", "6", "--output", str(out))
    assert done.returncode == cli.EXIT_PARTIAL, done.stderr
    json_report.validate(json.loads(out.read_text()))
    assert "json report written to" in done.stderr


def test_output_that_cannot_be_written_is_refused_before_grading(submission, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    for output, why in ((tmp_path, "is a folder"), (blocker / "r.json", "is a file")):
        done = grader(str(submission), "--task", "6", "--output", str(output))
        assert done.returncode == 2 and why in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert "Score" not in done.stdout + done.stderr  # refused before grading


def test_save_parses_format_and_file():
    assert cli.save_spec("json=out/r.json") == ("json", Path("out/r.json"))
    for bad in ("json", "json=", "csv=r.csv"):
        with pytest.raises(argparse.ArgumentTypeError):
            cli.save_spec(bad)


def test_save_writes_the_same_report_in_more_formats(submission, tmp_path):
    """One grading run, three files (the student edition's workflow relies on it), text on stdout."""
    out = tmp_path / "grader-results"
    done = grader(str(submission), "--task", "6", "--save", f"json={out}/report.json",
                  "--save", f"junit={out}/junit.xml", "--save", f"markdown={out}/summary.md")
    assert done.returncode == cli.EXIT_PARTIAL, done.stderr
    assert "Score: 0/16" in done.stdout
    report = json.loads((out / "report.json").read_text())
    json_report.validate(report)
    assert (report["score"], report["max_score"]) == (0, 16)
    assert ET.fromstring((out / "junit.xml").read_text()).get("failures") == "7"
    assert (out / "summary.md").read_text().startswith("## Docker for MLOps grader — Score: 0/16")
    assert done.stderr.count("report written to") == 3


def test_save_to_an_unwritable_place_says_so(submission, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    done = grader(str(submission), "--task", "6", "--save", f"json={blocker}/report.json",
                  "--save", f"junit={tmp_path}/junit.xml")
    assert done.returncode == cli.EXIT_CANNOT_GRADE
    assert "could not write the json report" in done.stderr and "Score: 0/16" in done.stdout
    assert (tmp_path / "junit.xml").is_file(), "the other reports are still saved"
    bad = grader(str(submission), "--save", "csv=x.csv")
    assert bad.returncode == 2 and "unknown format 'csv'" in bad.stderr


@pytest.mark.parametrize("run_id", ["*", "", "a*", "[ab]*", "ABCDEF", "1e10", "true"])
def test_cleanup_takes_only_a_run_id_never_a_pattern(run_id, tmp_path, capsys):
    """`cleanup --run '*'` removed every run's scratch copy (newcomer's finding): refused as usage."""
    other = tmp_path / "mlops-grader-aaaaaa-xyz"
    other.mkdir()
    with pytest.raises(SystemExit) as exit_:
        cli.main(["cleanup", "--run", run_id, "--workroot", str(tmp_path)])
    assert exit_.value.code == 2 and "is not a run id" in capsys.readouterr().err
    assert other.is_dir()
    assert commands.scratch_dirs("aaaaa[a]", tmp_path) == []          # a bracket is a name, not a class


# -- the engine ------------------------------------------------------------------------------
@pytest.mark.docker
def test_task_1_is_the_setup_check():
    done = grader("--task", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "task 1 is the setup check" in done.stderr and "Ready to grade." in done.stdout


@pytest.mark.docker
def test_cleanup_removes_a_runs_leftovers(docker_client, tmp_path, capsys):
    run_id = uuid.uuid4().hex[:10]
    docker_client.networks.create(f"mlops-grader-{run_id}-test",
                                  labels={LABEL_GRADER: "1", LABEL_RUN: run_id})
    scratch = tmp_path / f"mlops-grader-{run_id}-xyz"
    (scratch / "submission").mkdir(parents=True)
    try:
        assert run_id in commands.grader_runs(docker_client)
        assert cli.main(["cleanup", "--run", run_id, "--workroot", str(tmp_path)]) == 0
        assert docker_client.networks.list(filters={"label": f"{LABEL_RUN}={run_id}"}) == []
        assert not scratch.exists()
        assert f"{LABEL_RUN}={run_id}" in capsys.readouterr().out
    finally:
        for leftover in docker_client.networks.list(filters={"label": f"{LABEL_RUN}={run_id}"}):
            leftover.remove()


@pytest.mark.docker
@pytest.mark.slow
def test_ctrl_c_cleans_up_and_exits_130(docker_client, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "grader", str(REPO), "--solution", "--task", "7",
                             "--workroot", str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    run_id, seen = None, []
    deadline = time.monotonic() + 900
    try:
        for line in proc.stderr:              # plain progress: one line per event
            seen.append(line)
            if run_id is None:
                run_id = next((re.match(r"mlops-grader-([0-9a-f]+)-", p.name).group(1)
                               for p in tmp_path.glob("mlops-grader-*")), None)
            if "stack_images ready" in line or time.monotonic() > deadline:
                break                         # the stack starts next
        started = time.monotonic()            # interrupt once the run's containers exist
        while run_id and time.monotonic() - started < 120:
            if docker_client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_id}"}):
                break
            time.sleep(0.5)
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = "".join(seen) + rest
    assert proc.returncode == cli.EXIT_INTERRUPTED, stderr
    assert "interrupted, cleaned up" in stderr
    assert run_id, stderr
    label = {"label": f"{LABEL_RUN}={run_id}"}
    assert docker_client.containers.list(all=True, filters=label) == []
    assert docker_client.networks.list(filters=label) == []
    assert docker_client.volumes.list(filters=label) == []
    assert docker_client.images.list(filters=label) == []
    assert list(tmp_path.glob("mlops-grader-*")) == []


def test_full_marks_exit_code_is_zero():
    full = report("passed")
    assert cli.exit_code(replace(full, errors=())) == 0


def test_plain_progress_is_one_line_per_event():
    stream = io.StringIO()
    with Progress(stream=stream, live=False) as progress:
        progress("phase", "build")
        progress("resource", "mlapp_image ready in 4.2 s")
        progress("resource-failed", f"mlflow_image: {NO_ENGINE}")
        progress("resource-failed", f"stack: {NO_ENGINE}")
        progress("check", "2.builds failed")
        progress("check", "2.non-root passed")
        progress("phase", "teardown")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 7 and all(re.match(r"^\[\s*\d+\.\d+s\] ", line) for line in lines)
    assert NO_ENGINE not in stream.getvalue()         # the report says it once; progress points there
    assert "no Docker engine answers" in lines[2] and "not available (see above)" in lines[3]
    assert "✘ 2.builds failed" in lines[4] and "✔ 2.non-root passed" in lines[5]
    assert "\x1b[" not in stream.getvalue()
    assert (progress.passed, progress.failed, progress.phase) == (1, 1, "teardown")


def test_live_progress_renders_on_a_terminal():
    stream = io.StringIO()
    with Progress(stream=stream, live=True) as progress:
        progress("phase", "build")
        progress("check", "2.builds failed")
        progress("check", "2.non-root passed")   # on a terminal passes are only counted
    out = stream.getvalue()
    assert "2.builds failed" in out and "2.non-root passed" not in out.replace("\x1b", "")


def test_no_engine_grades_the_static_checks_and_says_why_once(tmp_path):
    done = grader(str(REPO), "--solution", "--task", "2", "--task", "6", "--format", "json",
                  DOCKER_HOST=f"unix://{tmp_path}/no-such.sock", timeout=120)
    assert done.returncode == cli.EXIT_CANNOT_GRADE, done.stderr
    data = json.loads(done.stdout)
    json_report.validate(data)
    assert data["errors"] == [NO_ENGINE]
    checks = {c["id"]: c for t in data["tasks"] for c in t["checks"]}
    assert all(checks[i]["status"] == "passed" for i in ("2.base-pinned", "2.exec-cmd", "6.valid", "6.restart"))
    assert checks["2.builds"]["status"] == "failed" and checks["2.builds"]["found"] == NO_ENGINE
    assert " ".join(done.stderr.split()).count(" ".join(NO_ENGINE.split())) == 1    # said once, in full
    assert "no Docker engine answers (what to do: see the report)" in done.stderr     # progress points there
