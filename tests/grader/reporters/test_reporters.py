"""Reporters are pure formatting: hand-built reports in, structurally checked strings out."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from grader import reporters
from grader.constants import NO_ENGINE
from grader.reporters import classroom, gradescope, json_report, junit, markdown, text
from grader.reporters import explain as explain_module
from grader.results import CheckResult, GradeReport, TaskResult

BUILD_LOG = "\n".join(f"Step {i}/60 : RUN something {i}" for i in range(60))


def check(check_id: str, status: str, score: float, max_score: float, message: str, **extra) -> CheckResult:
    fields = dict(id=check_id, task_id=check_id.split(".")[0], title=f"Title of {check_id}", status=status,
                  score=score, max_score=max_score, message=message, expected=None, found=None, hint=None,
                  section=f"labs/0{check_id[0]}-lab.md#{check_id.split('.')[1]}", visibility="visible",
                  duration_s=1.25)
    fields.update(extra)
    return CheckResult(**fields)


def make_report(*, mode: str = "student", errors=(), hidden_status: str = "passed") -> GradeReport:
    task2 = TaskResult(id="2", title="Dockerfile.mlapp", section="labs/02-lab.md", checks=(
        check("2.non-root", "passed", 3, 3, "runs as uid 10001"),
        check("2.builds", "failed", 0, 4, "the build failed at step 5", expected="a successful build",
              found='line 7: RUN pip install -r [requirements.txt] | exit code 1',
              hint='Use CMD ["gunicorn", "app"]; fix the first error', details=BUILD_LOG),
        check("2.expose", "error", 0, 2, "grader error: KeyError: 'port'", hint="This is a fault in the grader"),
        check("2.binds-all", "failed", 1.5, 3, "listens on 127.0.0.1:5000 and 0.0.0.0:5001",
              expected="0.0.0.0:5000", found="127.0.0.1:5000", hint="Bind gunicorn to 0.0.0.0"),
    ))
    checks7 = [check("7.stack-healthy", "failed", 0, 4, "Not checked: " + NO_ENGINE,
                     expected="what this check needs to be available", found=NO_ENGINE,
                     hint="Run `docker compose up -d --wait`")]
    if mode == "instructor":
        checks7.append(check("7.survives-outage", hidden_status, 2 if hidden_status == "passed" else 0, 2,
                             "kept predicting while MLflow was down", visibility="hidden"))
    task7 = TaskResult(id="7", title="The integrated stack", section="labs/07-lab.md", checks=tuple(checks7))
    return GradeReport(run_id="0123abcdef", submission="/tmp/submission", mode=mode, grader_version="1.0.0",
                       started_at="2026-11-22T06:31:00+00:00", duration_s=42.0, tasks=(task2, task7),
                       environment={"python": "3.11.2", "platform": "Linux"}, errors=tuple(errors))


def full_marks() -> GradeReport:
    task = TaskResult(id="3", title="dockerignore", section="labs/03-lab.md",
                      checks=(check("3.ignore-patterns", "passed", 3, 3, "all patterns present"),))
    return replace(make_report(), tasks=(task,))


# -- text ------------------------------------------------------------------------------------
def test_text_is_plain_and_fits_100_columns():
    out = text.render(make_report(errors=(NO_ENGINE,)))
    assert "\x1b[" not in out
    assert max(len(line) for line in out.splitlines()) <= 100
    assert not [line for line in out.splitlines() if line != line.rstrip()]
    assert "Score: 4.5/16" in out


def test_text_explains_every_failure_and_keeps_brackets_literal():
    out = text.render(make_report())
    assert "runs as uid 10001" in out                     # a pass says why
    for label in ("Expected:", "Found:", "How to fix:", "Read:", "Details:"):
        assert label in out
    assert "line 7: RUN pip install -r [requirements.txt] | exit code 1" in out  # not eaten as markup
    assert 'Use CMD ["gunicorn", "app"]' in out
    assert "labs/02-lab.md#builds" in out
    assert "Step 59/60" in out and "earlier lines left out" in out and "Step 5/60" not in out
    assert "ERROR" in out and "grader error: KeyError" in out


def test_text_shows_run_wide_problem_once_and_notes_hidden_checks():
    out = text.render(make_report(errors=(NO_ENGINE,)))
    assert out.count("No Docker engine answers") == 1
    assert "see the problem reported at the top" in out
    assert "hidden check" in out and "--instructor" in out       # task 7 has a hidden check
    assert "hidden check" not in text.render(make_report(mode="instructor"))


def test_a_note_that_cost_nothing_is_not_called_a_problem():
    fallback = "warning: the batch's registry did not answer: this grade started its own"
    report = make_report(errors=(fallback, "cleanup: network x is still in use", NO_ENGINE))
    assert report.notes == ("the batch's registry did not answer: this grade started its own",
                            "cleanup: network x is still in use")
    out = text.render(report)
    assert "NOTE: the batch's registry did not answer" in out and "NOTE: cleanup: network x" in out
    assert "PROBLEM: warning" not in out and "PROBLEM: cleanup" not in out
    assert out.count("PROBLEM: ") == 1                                   # the engine, a real problem
    summary = markdown.render(report)
    assert "> [!NOTE]\n> the batch's registry did not answer" in summary
    assert summary.count("> [!WARNING]") == 1
    assert "NOTE: the batch's registry" in gradescope.render(report) and "warning:" not in gradescope.render(report)
    assert make_report(errors=("warning:", "cleanup:")).notes == ()                 # nothing to say: no line


def test_text_colour_only_when_asked():
    assert "\x1b[" in text.render(make_report(), color=True)


# -- json ------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["student", "instructor"])
def test_json_is_valid_against_the_schema(mode):
    report = make_report(mode=mode, errors=(NO_ENGINE,))
    data = json.loads(json_report.render(report))
    json_report.validate(data)
    assert data["score"] == report.score and data["max_score"] == report.max_score
    assert data == json.loads(json.dumps(report.to_dict()))


# -- junit -----------------------------------------------------------------------------------
def test_junit_structure():
    root = ET.fromstring(junit.render(make_report()))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["Task 2: Dockerfile.mlapp", "Task 7: The integrated stack"]
    assert [len(s.findall("testcase")) for s in suites] == [4, 1]
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "3", "1")
    for suite in suites:
        cases = suite.findall("testcase")
        assert int(suite.get("failures")) == sum(c.find("failure") is not None for c in cases)
        assert int(suite.get("errors")) == sum(c.find("error") is not None for c in cases)
    builds = root.find(".//testcase[@name='2.builds Title of 2.builds']")
    failure = builds.find("failure")
    assert failure.get("message") == "the build failed at step 5"
    assert "Expected:" in failure.text and "How to fix:" in failure.text and "labs/02-lab.md#builds" in failure.text
    assert root.find(".//testcase[@name='2.non-root Title of 2.non-root']/system-out").text == "runs as uid 10001"


def test_terminal_escapes_and_control_characters_never_reach_a_report():
    # A build log as BuildKit writes it to a terminal: colours, a title, a bell, a NUL (batch's junit.xml
    # was not well-formed XML with these in it).
    raw = "\x1b[31mERROR\x1b[0m: failed to solve\r\n\x1b]0;title\x07step 5\x00\x07 done\x1b[2K"
    failed = check("2.builds", "failed", 0, 4, "\x1b[1mbuild failed\x1b[0m", details=raw, found="exit\x0c 1")
    assert failed.details == "ERROR: failed to solve\nstep 5 done" and failed.message == "build failed"
    task = TaskResult(id="2", title="Dockerfile.mlapp", section="labs/02-lab.md", checks=(failed,))
    report = replace(make_report(), tasks=(task,))
    root = ET.fromstring(junit.render(report))       # well-formed XML
    assert "failed to solve" in root.find(".//failure").text
    assert "\x1b" not in markdown.render(report) and "\x1b" not in text.render(report)


def test_junit_hidden_checks_only_for_instructors():
    hidden = "7.survives-outage Title of 7.survives-outage"
    leaked = replace(make_report(mode="instructor"), mode="student")  # a hidden result in a student report
    assert ET.fromstring(junit.render(leaked)).find(f".//testcase[@name='{hidden}']") is None
    assert ET.fromstring(junit.render(make_report(mode="instructor"))).find(f".//testcase[@name='{hidden}']") is not None


# -- gradescope ------------------------------------------------------------------------------
def test_gradescope_follows_the_spec():
    data = json.loads(gradescope.render(make_report(mode="instructor", errors=(NO_ENGINE,))))
    assert {"score", "max_score", "output", "visibility", "stdout_visibility", "tests"} <= set(data)
    assert data["score"] == 6.5 and data["max_score"] == 18
    assert NO_ENGINE in data["output"]
    for test in data["tests"]:
        assert {"name", "number", "score", "max_score", "status", "output", "visibility"} <= set(test)
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in ("visible", "after_published")
    by_number = {t["number"]: t for t in data["tests"]}
    assert by_number["7.survives-outage"]["visibility"] == "after_published"
    assert by_number["2.expose"]["status"] == "failed"          # a grader error is not a pass
    assert "Expected:" in by_number["2.builds"]["output"]
    assert sum(t["score"] for t in data["tests"]) == data["score"]


# -- classroom -------------------------------------------------------------------------------
TEST_KEYS = {"name", "status", "message", "test_code", "filename", "line_no", "duration", "score"}


def test_classroom_base64_round_trip():
    encoded = classroom.render(make_report())
    assert encoded.endswith("\n") and "\n" not in encoded.rstrip("\n")    # one line for $GITHUB_OUTPUT
    decoded = json.loads(base64.b64decode(encoded))
    assert decoded == json.loads(classroom.render_json(make_report())) == classroom.decode(encoded)
    assert set(decoded) == {"version", "status", "max_score", "tests"} and decoded["version"] == 1
    assert all(set(t) == TEST_KEYS for t in decoded["tests"])
    assert decoded["max_score"] == 16 and sum(t["score"] for t in decoded["tests"]) == 4.5
    assert decoded["status"] == "error"                                 # 2.expose crashed
    statuses = {t["name"].split()[0]: t["status"] for t in decoded["tests"]}
    assert statuses == {"2.non-root": "pass", "2.builds": "fail", "2.expose": "error", "2.binds-all": "fail",
                        "7.stack-healthy": "fail"}
    builds = next(t for t in decoded["tests"] if t["name"].startswith("2.builds"))
    assert "Found:" in builds["message"] and builds["duration"] == 1250 and builds["filename"] == "labs/02-lab.md"


def test_classroom_overall_status():
    assert classroom.as_dict(full_marks())["status"] == "pass"
    report = make_report()
    no_error = replace(report, tasks=(replace(report.tasks[0], checks=report.tasks[0].checks[:2]),))
    assert classroom.as_dict(no_error)["status"] == "fail"


# -- markdown --------------------------------------------------------------------------------
def test_markdown_summary():
    out = markdown.render(make_report(errors=(NO_ENGINE,)))
    assert out.startswith("## ") and "Score: 4.5/16" in out
    rows = [line for line in out.splitlines() if re.match(r"^\| \d", line)]
    assert rows == ["| 2. Dockerfile.mlapp | 4.5/12 | ⚠️ |", "| 7. The integrated stack | 0/4 | ❌ |"]
    assert out.count("<details>") == out.count("</details>") == 4
    assert r"[requirements.txt] \| exit code 1" in out                 # table-safe pipes
    assert "```text\n... (20 earlier lines left out)" in out
    assert "`labs/02-lab.md#builds`" in out


def test_markdown_links_sections_in_actions():
    out = markdown.render(make_report(), link_base="https://github.com/o/r/blob/abc")
    assert "[labs/02-lab.md#builds](https://github.com/o/r/blob/abc/labs/02-lab.md#builds)" in out


def test_markdown_full_marks_has_no_failures():
    out = markdown.render(full_marks())
    assert "What to fix" not in out and "✅" in out


# -- dispatch --------------------------------------------------------------------------------
def test_every_format_renders_and_unknown_one_is_refused():
    for fmt in reporters.FORMATS:
        assert reporters.render(make_report(), fmt).strip()
    with pytest.raises(ValueError, match="unknown format"):
        reporters.render(make_report(), "yaml")


def test_a_shared_cause_is_spelled_out_once():
    cause = "docker-compose.yml: no service builds Dockerfile.mlapp"
    first = check("6.valid", "failed", 0, 3, f"Not checked: {cause}", expected="two services", found=cause,
                  hint="Run `docker compose config`", details="compose said no")
    second = check("6.network", "failed", 0, 2, f"Not checked: {cause}", expected="two services", found=cause,
                   hint="Fix 6.valid first: Run `docker compose config`", details="compose said no")
    task = TaskResult(id="6", title="compose", section="labs/06-lab.md", checks=(first, second))
    out = text.render(replace(make_report(), tasks=(task,)))
    assert out.count(cause) == 2                                   # table row and the first block
    assert "for the same reason as 6.valid (above)" in out and "Fix 6.valid first (see above)." in out
    assert out.count("compose said no") == 1
    standalone = junit.render(replace(make_report(), tasks=(task,)))   # one test per check: each complete
    assert standalone.count("Run `docker compose config`") == 2


def test_long_explanations_wrap_under_their_label():
    body = explain_module.explain(check("2.builds", "failed", 0, 4, "word " * 40, expected="x", found="y"))
    lines = body.as_text(indent="  ", width=60).splitlines()
    assert all(len(line) <= 60 for line in lines)
    assert lines[1].startswith(" " * len("  What happened: "))
