"""JSON report: GradeReport.to_dict(), valid against grader/schema/report-v1.json."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from grader.results import GradeReport

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schema" / "report-v1.json"


def as_dict(report: GradeReport) -> dict:
    data = report.to_dict()
    # Explicit even though to_dict has them: consumers rely on these two keys above all.
    data["score"], data["max_score"] = report.score, report.max_score
    return data


def render(report: GradeReport) -> str:
    return json.dumps(as_dict(report), indent=2, ensure_ascii=False) + "\n"


@lru_cache(maxsize=1)
def schema() -> dict:
    with open(SCHEMA_PATH, encoding="utf-8") as fh:
        return json.load(fh)


def validate(data: dict) -> None:
    """Raise jsonschema.ValidationError when `data` does not follow the report schema."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    validator.validate(data)
