"""Generate the workbook notebooks from the lab handouts: `python -m scripts.notebooks sync|check`."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat

from grader.rubric import Rubric, load

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
LABS = REPO / "labs"
NOTEBOOKS = REPO / "notebooks"
HANDOUT_NAME = re.compile(r"^(?P<num>\d\d)-[a-z0-9-]+\.md$")
# The checks table in each handout lives between these markers and is rendered from the rubric.
REGION = re.compile(r"(?P<begin><!-- rubric:begin task=(?P<task>[^ ]+) -->\n)(?P<body>.*?)(?P<end><!-- rubric:end -->)",
                    re.S)
# A fenced ```output block right after a code cell is that cell's expected output (nbval compares it).
OUTPUT_BLOCK = re.compile(r"\A```output[ \t]*\n(?P<text>.*?)^```[ \t]*$\n?(?P<rest>.*)\Z", re.S | re.M)
CHECK_MARKER = "NBVAL_CHECK_OUTPUT"
# Relative links in handouts point at files beside labs/; notebooks/ is a sibling, so re-root them.
RELATIVE_LINK = re.compile(r"\]\((?!https?:|mailto:|#|/|\.\./)(?P<target>[^)\s]+)\)")
MAIN_LANGUAGE_HEADER = "---\njupyter:\n  jupytext:\n    main_language: python\n---\n\n"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


class SyncError(ValueError):
    """A handout breaks a workbook convention (see labs/README.md); the message says where."""


@dataclass(frozen=True)
class Pair:
    handout: Path
    notebook: Path
    task_id: str


def pairs(labs: Path = LABS, notebooks: Path = NOTEBOOKS) -> list[Pair]:
    """Every numbered handout with the notebook generated from it, in lab order."""
    found = []
    for path in sorted(labs.glob("*.md")):
        match = HANDOUT_NAME.match(path.name)
        if match:
            found.append(Pair(handout=path, notebook=notebooks / f"{path.stem}.ipynb",
                              task_id=str(int(match["num"]))))
    return found


# -- the checks table ----------------------------------------------------------------------
def rubric_table(task_id: str, rubric: Rubric) -> str:
    """Markdown table of a task's graded checks (visible ones), as the grader scores them."""
    task = rubric.task(task_id)
    if not task.scored or not task.checks:
        return f"{task.summary or 'This task is not scored.'}\n"
    visible = [c for c in task.checks if c.visibility == "visible"]
    lines = ["| Check | Points | What is checked |", "| --- | ---: | --- |"]
    for check in visible:
        anchor = check.section.split("#", 1)[1] if "#" in check.section else ""
        title = check.title.replace("|", "\\|")
        lines.append(f"| [`{check.id}`](#{anchor}) | {check.points:g} | {title} |")
    total = sum(c.points for c in visible)
    lines.append(f"| **Total** | **{total:g}** | `python -m grader --task {task_id}` |")
    return "\n".join(lines) + "\n"


def render_regions(text: str, rubric: Rubric, *, where: str = "handout", required: bool = True) -> str:
    """Return `text` with every rubric region re-rendered from the rubric."""
    if required and not REGION.search(text):
        raise SyncError(f"{where}: no '<!-- rubric:begin task=N -->' ... '<!-- rubric:end -->' region")
    try:
        return REGION.sub(lambda m: m["begin"] + rubric_table(m["task"], rubric) + m["end"], text)
    except KeyError as exc:
        raise SyncError(f"{where}: {exc.args[0]}") from None


# -- handout -> notebook ---------------------------------------------------------------------
def has_check_marker(source: str) -> bool:
    return any(line.strip().lstrip("#").strip() == CHECK_MARKER
               for line in source.splitlines() if line.strip().startswith("#"))


def build_notebook(text: str, *, name: str) -> nbformat.NotebookNode:
    """The notebook for handout `name` (e.g. 02-dockerfile-mlapp.md) with its text `text`."""
    if text.startswith("---"):
        raise SyncError(f"{name}: handouts have no front matter (it would show as a table on GitHub)")
    # Code blocks in other languages than the main one become cell magics (```bash -> %%bash).
    source_nb = jupytext.reads(MAIN_LANGUAGE_HEADER + text, fmt="md")
    cells = [nbformat.v4.new_markdown_cell(
        f"*Workbook for [{name}](../labs/{name}), generated from that handout by `make notebooks`: "
        "edit the handout, not this notebook. Run the cells from top to bottom.*")]
    pending = list(source_nb.cells)
    while pending:
        cell = pending.pop(0)
        tags = list(cell.metadata.get("tags", []))
        if cell.cell_type == "markdown":
            if OUTPUT_BLOCK.match(cell.source):
                raise SyncError(f"{name}: an ```output block must follow a code block directly:\n"
                                f"{cell.source[:200]}")
            cells.append(nbformat.v4.new_markdown_cell(RELATIVE_LINK.sub(r"](../labs/\g<target>)", cell.source)))
            continue
        if not cells[1:] and not cell.source.startswith("# Setup"):
            raise SyncError(f"{name}: the first code block must be the Python setup cell ('# Setup ...')")
        new = nbformat.v4.new_code_cell(cell.source)
        if tags:
            new.metadata["tags"] = tags
        expected = None
        if pending and pending[0].cell_type == "markdown":
            match = OUTPUT_BLOCK.match(pending[0].source)
            if match:
                expected = match["text"]
                rest = match["rest"].strip("\n")
                pending[0] = nbformat.v4.new_markdown_cell(rest) if rest else None
                if pending[0] is None:
                    pending.pop(0)
        checked = has_check_marker(cell.source)
        if checked and expected is None:
            raise SyncError(f"{name}: a '# {CHECK_MARKER}' cell needs an ```output block after it:\n"
                            f"{cell.source[:200]}")
        if expected is not None and not checked:
            raise SyncError(f"{name}: an ```output block follows a cell without '# {CHECK_MARKER}':\n"
                            f"{cell.source[:200]}")
        if expected is not None:
            # nbval compares outputs only of cells that were run (execution_count set).
            new.execution_count = sum(1 for c in cells if c.cell_type == "code") + 1
            new.outputs = [nbformat.v4.new_output("stream", name="stdout", text=expected)]
        cells.append(new)
    nb = nbformat.v4.new_notebook(cells=cells)
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index:03d}"  # stable ids: regenerating must not churn the files
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    nbformat.validate(nb)
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


# -- comparing -------------------------------------------------------------------------------
def _essential(cell: dict, *, with_outputs: bool) -> dict:
    """What the generator decides about a cell; outputs of unchecked cells are the user's."""
    kept = {"cell_type": cell["cell_type"], "source": "".join(cell["source"]),
            "tags": list(cell.get("metadata", {}).get("tags", []))}
    if with_outputs:
        kept["execution_count"] = cell.get("execution_count")
        kept["outputs"] = [{k: v for k, v in out.items() if k != "metadata"} for out in cell.get("outputs", [])]
    return kept


def differences(expected: nbformat.NotebookNode, actual: nbformat.NotebookNode) -> list[str]:
    """How `actual` (committed) differs from `expected` (generated), one line per difference."""
    found = []
    if len(expected.cells) != len(actual.cells):
        found.append(f"{len(actual.cells)} cells, expected {len(expected.cells)}")
    for index, (want, have) in enumerate(zip(expected.cells, actual.cells, strict=False)):
        checked = want.cell_type == "code" and bool(want.get("outputs"))
        if _essential(want, with_outputs=checked) != _essential(have, with_outputs=checked):
            first = "".join(want["source"]).strip().splitlines()[:1]
            found.append(f"cell {index} ({want.cell_type}, {first[0][:60] if first else 'empty'!r}) differs")
    if actual.metadata.get("kernelspec", {}).get("name") != KERNELSPEC["name"]:
        found.append("kernelspec is not python3")
    return found


def check(*, labs: Path = LABS, notebooks: Path = NOTEBOOKS) -> list[str]:
    """Every way the committed notebooks and tables are out of step with the handouts and rubric."""
    rubric, problems = load(), []
    all_pairs = pairs(labs, notebooks)
    if not all_pairs:
        problems.append(f"no handouts NN-*.md in {labs}")
    for pair in all_pairs:
        text = pair.handout.read_text(encoding="utf-8")
        try:
            graded = pair.task_id in rubric.task_ids
            if render_regions(text, rubric, where=pair.handout.name, required=graded) != text:
                problems.append(f"{pair.handout.name}: its checks table differs from grader/rubric.yaml")
            expected = build_notebook(text, name=pair.handout.name)
        except SyncError as exc:
            problems.append(str(exc))
            continue
        if not pair.notebook.exists():
            problems.append(f"{pair.notebook.name} is missing")
            continue
        actual = nbformat.read(pair.notebook, as_version=4)
        problems += [f"{pair.notebook.name}: {d}" for d in differences(expected, actual)]
    known = {p.notebook.name for p in all_pairs}
    problems += [f"{nb.name} has no handout labs/{nb.stem}.md" for nb in sorted(notebooks.glob("*.ipynb"))
                 if nb.name not in known]
    return problems


def sync(*, labs: Path = LABS, notebooks: Path = NOTEBOOKS) -> list[Path]:
    """Re-render the checks tables, then regenerate every notebook; return the files changed."""
    rubric, changed = load(), []
    notebooks.mkdir(exist_ok=True)
    for pair in pairs(labs, notebooks):
        text = pair.handout.read_text(encoding="utf-8")
        new_text = render_regions(text, rubric, where=pair.handout.name, required=pair.task_id in rubric.task_ids)
        if new_text != text:
            pair.handout.write_text(new_text, encoding="utf-8")
            changed.append(pair.handout)
        output = render(build_notebook(new_text, name=pair.handout.name))
        if not pair.notebook.exists() or pair.notebook.read_text(encoding="utf-8") != output:
            pair.notebook.write_text(output, encoding="utf-8")
            changed.append(pair.notebook)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.notebooks", description=__doc__)
    parser.add_argument("command", choices=("sync", "check"),
                        help="sync: rewrite tables and notebooks from the handouts; check: report drift")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "sync":
        try:
            changed = sync()
        except SyncError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        for path in changed:
            print(f"wrote {path.relative_to(REPO)}")
        print(f"{len(changed)} file(s) changed" if changed else "notebooks are in sync with the handouts")
        return 0
    problems = check()
    for problem in problems:
        print(problem)
    if problems:
        print("Edit the handouts in labs/, then run `make notebooks` (python -m scripts.notebooks sync).")
        return 1
    print("notebooks are in sync with the handouts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
