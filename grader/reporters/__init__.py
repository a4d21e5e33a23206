"""Report formats: each module turns a GradeReport into a string with `render(report)`."""

from __future__ import annotations

import importlib

from grader.results import GradeReport

# format name -> module in this package
FORMATS = {
    "text": "text",
    "json": "json_report",
    "junit": "junit",
    "gradescope": "gradescope",
    "classroom": "classroom",
    "markdown": "markdown",
}


def module(fmt: str):
    try:
        return importlib.import_module(f"{__name__}.{FORMATS[fmt]}")
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}") from None


def render(report: GradeReport, fmt: str = "text", **options) -> str:
    """Format `report`; `options` go to the format's render (e.g. color= for text)."""
    return module(fmt).render(report, **options)
