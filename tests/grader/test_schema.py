"""The report schema: a valid draft 2020-12 schema, in step with results.py and its documentation."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from pathlib import Path

import jsonschema
import pytest

from grader.reporters import json_report
from grader.results import SCHEMA_VERSION, CheckResult, GradeReport, TaskResult

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "grader-report-schema.md"


def sample() -> dict:
    checks = (
        CheckResult(id="2.non-root", task_id="2", title="non-root", status="passed", score=3, max_score=3,
                    message="runs as uid 10001", expected=None, found=None, hint=None,
                    section="labs/02-dockerfile-mlapp.md#run-as-a-non-root-user", visibility="visible"),
        CheckResult(id="2.builds", task_id="2", title="builds", status="failed", score=1.5, max_score=4,
                    message="build failed", expected="a build", found="exit 1", hint="fix it",
                    section="labs/02-dockerfile-mlapp.md#build-the-image", visibility="visible",
                    details="Step 3/9 : RUN false", duration_s=3.2),
    )
    report = GradeReport(run_id="0123abcdef", submission="/tmp/s", mode="student", grader_version="1.0.0",
                         started_at="2026-11-22T06:31:00+00:00", duration_s=5.0,
                         tasks=(TaskResult(id="2", title="t", section="labs/02-dockerfile-mlapp.md", checks=checks),),
                         environment={"python": "3.11.2", "docker_engine": None})
    return json.loads(json_report.render(report))


def test_schema_is_valid_draft_2020_12():
    schema = json_report.schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION


def test_sample_report_validates():
    json_report.validate(sample())


@pytest.mark.parametrize("mutate", [
    lambda d: d.pop("score"),
    lambda d: d.update(mode="teacher"),
    lambda d: d.update(schema_version="2.0"),
    lambda d: d.update(unexpected=1),
    lambda d: d["tasks"][0]["checks"][0].update(status="skipped"),
    lambda d: d["tasks"][0]["checks"][0].update(hint="passed checks carry no hint"),
    lambda d: d["tasks"][0]["checks"][1].update(score=-1),
    lambda d: d["tasks"][0]["checks"][1].update(id="2_builds"),
    lambda d: d["tasks"][0]["checks"][1].update(status="error"),      # an error scores 0
    lambda d: d["tasks"][0]["checks"][1].pop("details"),
], ids=["no-score", "bad-mode", "bad-version", "extra-field", "bad-status", "hint-on-pass",
        "negative-score", "bad-id", "error-with-points", "missing-details"])
def test_schema_rejects_broken_reports(mutate):
    data = copy.deepcopy(sample())
    mutate(data)
    with pytest.raises(jsonschema.ValidationError):
        json_report.validate(data)


def test_schema_lists_exactly_the_dataclass_fields():
    schema = json_report.schema()
    check_fields = {f.name for f in dataclasses.fields(CheckResult)}
    task_fields = {f.name for f in dataclasses.fields(TaskResult)} | {"score", "max_score"}
    report_fields = {f.name for f in dataclasses.fields(GradeReport)} | {"score", "max_score"}
    assert set(schema["$defs"]["check"]["properties"]) == check_fields
    assert set(schema["$defs"]["task"]["properties"]) == task_fields
    assert set(schema["properties"]) == report_fields


def test_documentation_covers_every_field_and_its_example_validates():
    doc = DOC.read_text(encoding="utf-8")
    schema = json_report.schema()
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", doc, flags=re.M))
    fields = (set(schema["properties"]) | set(schema["$defs"]["task"]["properties"])
              | set(schema["$defs"]["check"]["properties"]) | set(schema["properties"]["environment"]["properties"]))
    assert fields <= documented, f"undocumented: {sorted(fields - documented)}"
    example = re.search(r"```json\n(.*?)\n```", doc, flags=re.S).group(1)
    json_report.validate(json.loads(example))
