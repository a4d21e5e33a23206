"""JUnit XML: one testsuite per task, one testcase per check (CI test-report viewers read it)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from grader.reporters.explain import explain, points, visible_checks
from grader.results import ERROR, GradeReport


def _suites(report: GradeReport):
    grouped: dict[str, tuple] = {}
    for task, check in visible_checks(report):
        grouped.setdefault(task.id, (task, []))[1].append(check)
    return grouped.values()


def render(report: GradeReport) -> str:
    root = ET.Element("testsuites", name="mlops-kit grader")
    totals = {"tests": 0, "failures": 0, "errors": 0, "time": 0.0}
    for task, checks in _suites(report):
        failures = sum(c.status not in ("passed", ERROR) for c in checks)
        errors = sum(c.status == ERROR for c in checks)
        seconds = sum(c.duration_s for c in checks)
        suite = ET.SubElement(root, "testsuite", name=f"Task {task.id}: {task.title}",
                              tests=str(len(checks)), failures=str(failures), errors=str(errors),
                              skipped="0", time=f"{seconds:.2f}", timestamp=report.started_at[:19])
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="score", value=points(task.score))
        ET.SubElement(props, "property", name="max_score", value=points(task.max_score))
        ET.SubElement(props, "property", name="section", value=task.section)
        for check in checks:
            case = ET.SubElement(suite, "testcase", classname=f"grader.task{task.id}",
                                 name=f"{check.id} {check.title}", time=f"{check.duration_s:.2f}")
            cprops = ET.SubElement(case, "properties")
            ET.SubElement(cprops, "property", name="points", value=f"{points(check.score)}/{points(check.max_score)}")
            if check.passed:
                ET.SubElement(case, "system-out").text = check.message
                continue
            tag = "error" if check.status == ERROR else "failure"
            node = ET.SubElement(case, tag, message=check.message, type=check.status)
            node.text = explain(check, errors=report.errors).as_text(indent="")
        totals["tests"] += len(checks)
        totals["failures"] += failures
        totals["errors"] += errors
        totals["time"] += seconds
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", str(totals["errors"]))
    root.set("time", f"{totals['time']:.2f}")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
