"""Formatting of the class report (grader.batch.stats.ClassStats): Markdown and one HTML page.

The HTML page is self-contained: plotly.js is embedded once (no network when it is viewed) and
draws three charts: pass rate per check, mean per task, the score distribution. Below them, the
table of every check with its pass rate and the most common failure messages with counts.
Formats only: every number comes from grader.batch.stats.
"""

from __future__ import annotations

import html

from grader.batch.stats import ClassStats
from grader.reporters.explain import points

TITLE = "Docker for MLOps — class report"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f} %"


def _mean(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(stats: ClassStats) -> str:
    """The class report as GitHub-flavoured Markdown."""
    lines = [f"# {TITLE}", ""]
    status = ", ".join(f"{n} {s}" for s, n in stats.statuses.items()) or "none"
    lines += [f"{stats.students} students ({status}); {stats.reported} with a report; "
              f"mean total {_mean(stats.mean_total())}.", ""]
    lines += ["## Mean per task", "", "| task | title | mean | max |", "| --- | --- | ---: | ---: |"]
    lines += [f"| {t.id} | {_cell(t.title)} | {_mean(t.mean)} | {points(t.max_score)} |" for t in stats.tasks]
    lines += ["", "## Score distribution", "", "| total (% of max) | students |", "| --- | ---: |"]
    lines += [f"| {label} | {count} |" for label, count in stats.distribution()]
    lines += ["", "## Checks", "", "| check | title | passed | pass rate |", "| --- | --- | ---: | ---: |"]
    lines += [f"| {c.id} | {_cell(c.title)} | {c.passed}/{c.graded} | {_percent(c.pass_rate)} |" for c in stats.checks]
    lines += ["", "## What to re-teach: most common failures per check", ""]
    failing = [c for c in sorted(stats.checks, key=lambda c: (c.pass_rate if c.pass_rate is not None else 1)) if c.failures]
    if not failing:
        lines.append("Every graded check passed for every student.")
    for check in failing:
        lines += [f"### {check.id} — {check.title} ({_percent(check.pass_rate)} passed; lab: `{check.section}`)", ""]
        lines += [f"- {count} × {_cell(message)}" for message, count in check.failures]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def figures(stats: ClassStats):
    """The three plotly figures: (pass rate per check, mean per task, score distribution)."""
    import plotly.graph_objects as go

    checks = list(reversed(stats.checks))   # horizontal bars read top-down in rubric order
    rates = [100 * (c.pass_rate or 0) for c in checks]
    pass_rate = go.Figure(go.Bar(
        x=rates, y=[c.id for c in checks], orientation="h", text=[f"{r:.0f} %" for r in rates],
        hovertext=[f"{c.title}: {c.passed}/{c.graded} passed" for c in checks], hoverinfo="text",
        marker_color=["#2e7d32" if r >= 80 else "#f9a825" if r >= 50 else "#c62828" for r in rates]))
    pass_rate.update_layout(title="Pass rate per check", xaxis={"title": "% of students", "range": [0, 100]},
                            height=max(320, 22 * len(checks) + 120), margin={"l": 140})
    tasks = go.Figure(go.Bar(
        x=[f"Task {t.id}" for t in stats.tasks],
        y=[100 * (t.mean or 0) / t.max_score if t.max_score else 0 for t in stats.tasks],
        hovertext=[f"{t.title}: mean {_mean(t.mean)} of {points(t.max_score)}" for t in stats.tasks],
        hoverinfo="text", marker_color="#1565c0"))
    tasks.update_layout(title="Mean per task (% of its points)", yaxis={"title": "%", "range": [0, 100]}, height=360)
    labels, counts = zip(*stats.distribution(), strict=True)
    distribution = go.Figure(go.Bar(x=list(labels), y=list(counts), marker_color="#6a1b9a"))
    distribution.update_layout(title="Score distribution (total as % of max)",
                               yaxis={"title": "students", "dtick": 1}, height=360)
    return pass_rate, tasks, distribution


def _table(stats: ClassStats) -> str:
    rows = []
    for c in stats.checks:
        failures = "".join(f"<li><b>{count}</b> × {html.escape(message)}</li>" for message, count in c.failures)
        rows.append(
            f'<tr data-check="{html.escape(c.id)}"><td>{html.escape(c.id)}<br><small>{html.escape(c.section)}</small></td>'
            f"<td>{html.escape(c.title)}</td><td class=num>{c.passed}/{c.graded}</td>"
            f"<td class=num>{_percent(c.pass_rate)}</td><td><ul>{failures}</ul></td></tr>")
    return ('<table id="checks"><thead><tr><th>check</th><th>title</th><th>passed</th><th>pass rate</th>'
            "<th>most common failures (students)</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.35rem 0.5rem; text-align: left; vertical-align: top; }
td.num { text-align: right; white-space: nowrap; }
ul { margin: 0; padding-left: 1.1rem; }
.chart { margin: 1rem 0; }
"""


def page(stats: ClassStats) -> str:
    """The class report as one self-contained HTML page (plotly.js embedded)."""
    import plotly.io as pio

    charts = []
    for i, (name, figure) in enumerate(zip(("pass-rate", "tasks", "distribution"), figures(stats), strict=True)):
        charts.append(f'<div class="chart" id="chart-{name}">' + pio.to_html(
            figure, full_html=False, include_plotlyjs=(i == 0), include_mathjax=False,
            config={"displaylogo": False, "responsive": True}) + "</div>")
    status = ", ".join(f"{n} {html.escape(s)}" for s, n in stats.statuses.items()) or "none"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{TITLE}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>
<body><h1>{TITLE}</h1>
<p id="summary">{stats.students} students ({status}); {stats.reported} with a report;
mean total {_mean(stats.mean_total())}.</p>
{"".join(charts)}
<h2>Checks, with the most common failures</h2>
{_table(stats)}
</body></html>
"""
