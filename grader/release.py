"""The student edition: `python -m grader release --dest DIR` (issue 11).

Like otter-grader's `otter assign` and nbgrader's `generate_assignment`, the release writes a copy
of this repository that students can be given: everything they need, nothing they must not see.
What it leaves out and rewrites is data, in `release/manifest.yaml`:

- `secret:` paths whose content students must not see (the reference `solutions/`, hidden checks
  `grader/tasks/*_hidden.py`, later hidden data files). Left out, and their distinctive lines are
  fingerprints searched for in every file of the edition.
- `leave_out:` paths students do not need (the kit's tests, benchmarks, instructor docs and CI).
- `rewrite:` files copied through a named rewriter (`REWRITERS`): the rubric without hidden
  entries, a Makefile with the students' targets, notebooks without stored outputs, ...
- `overlay:` a folder whose files are laid over the edition (the student README, the grading
  workflow); the files named in `render:` get `@@name@@` replaced by the release's variables.

The release then marks the edition (`grader/edition.yaml`, read by grader.edition) and searches
it for reference content (`find_leaks`); an edition with a leak is not written.
"""

from __future__ import annotations

import ast
import datetime as dt
import fnmatch
import hashlib
import inspect
import io
import json
import logging
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from grader import __version__, registry
from grader.chaffs import load as load_chaffs
from grader.constants import DELIVERABLES
from grader.edition import EDITION_FILE, STUDENT
from grader.errors import ReleaseError
from grader.rubric import RUBRIC_PATH, Rubric
from grader.rubric import load as load_rubric
from grader.workspace import SKIPPED

log = logging.getLogger(__name__)

SOURCE = Path(__file__).resolve().parents[1]       # the instructor's repository this grader is part of
MANIFEST = Path("release") / "manifest.yaml"       # relative to the source
SCHEMA = 1
MARKER = EDITION_FILE.relative_to(EDITION_FILE.parents[1]).as_posix()   # grader/edition.yaml
REFERENCE = "solutions/"          # always secret, whatever the manifest says
# Material students are meant to have, written for them: a fingerprint must not occur in it.
STUDENT_MATERIAL = ("starter/", "labs/")
MIN_LINE = 20                     # characters (whitespace collapsed) for a line to be a fingerprint
MIN_IDENTIFIER = 6                # characters for a name (function, module, check id) to be one
TEMPLATE_VARIABLE = re.compile(r"@@([a-z_]+)@@")
IMPORT_LINE = re.compile(r"^\s*(?:from\s+\S+\s+)?import\s")


# -- the manifest ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rewrite:
    """One `rewrite:` entry: files matching `path` go through the rewriter `kind` with `options`."""

    path: str
    kind: str
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    """release/manifest.yaml as data; paths are patterns relative to the repository root (see `matches`)."""

    secret: tuple[str, ...]
    leave_out: tuple[str, ...]
    rewrites: tuple[Rewrite, ...]
    overlay: str | None = None
    render: tuple[str, ...] = ()

    @property
    def excluded(self) -> tuple[str, ...]:
        return self.secret + self.leave_out


def _strings(value, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ReleaseError(f"{MANIFEST}: `{what}` must be a list of paths")
    return tuple(value)


def load_manifest(path: Path) -> Manifest:
    """Read and check a release manifest. Raises ReleaseError saying what is wrong with it."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReleaseError(f"cannot read the release manifest {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ReleaseError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ReleaseError(f"{path}: expected a mapping with `schema: {SCHEMA}`")
    unknown = set(data) - {"schema", "secret", "leave_out", "rewrite", "overlay", "render"}
    if unknown:
        raise ReleaseError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    rewrites = []
    for raw in data.get("rewrite") or []:
        if not isinstance(raw, dict) or not isinstance(raw.get("path"), str) or raw.get("with") not in REWRITERS:
            raise ReleaseError(f"{path}: each rewrite needs `path` and `with` (one of {', '.join(REWRITERS)}); "
                               f"got {raw!r}")
        options = {k: v for k, v in raw.items() if k not in ("path", "with")}
        rewrites.append(Rewrite(path=raw["path"], kind=raw["with"], options=options))
    overlay = data.get("overlay")
    if overlay is not None and not isinstance(overlay, str):
        raise ReleaseError(f"{path}: `overlay` must be a folder path")
    return Manifest(secret=_strings(data.get("secret"), "secret"), leave_out=_strings(data.get("leave_out"), "leave_out"),
                    rewrites=tuple(rewrites), overlay=overlay, render=_strings(data.get("render"), "render"))


def matches(rel: str, pattern: str) -> bool:
    """Whether the POSIX path `rel` matches a manifest pattern.

    A pattern ending in `/` is a folder and matches everything under it; any other pattern is an
    fnmatch glob over the whole relative path (`*` also crosses `/`): `grader/tasks/*_hidden.py`,
    `notebooks/*.ipynb`.
    """
    if pattern.endswith("/"):
        return rel.startswith(pattern)
    return fnmatch.fnmatchcase(rel, pattern)


# -- the files of the source -------------------------------------------------------------------
def _skipped(rel: str) -> bool:
    parts = rel.split("/")
    return any(p in SKIPPED for p in parts) or rel.endswith(".pyc")


def source_files(source: Path) -> list[str]:
    """Relative POSIX paths of the repository's files, sorted.

    In a git checkout: tracked files plus untracked ones that are not ignored (`git ls-files`), so
    local state never reaches an edition. Elsewhere (an unpacked archive): every file. Either way
    without local state (`grader.workspace.SKIPPED`: venvs, caches, run outputs) or vanished files.
    """
    try:
        done = subprocess.run(["git", "-C", str(source), "ls-files", "-z", "--cached", "--others",
                               "--exclude-standard"], capture_output=True, timeout=60, check=False)
        listed = done.stdout.decode("utf-8", "surrogateescape").split("\0") if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        listed = None
    if listed is None:
        log.info("%s is not a git checkout: releasing every file in it", source)
        listed = [p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file() or p.is_symlink()]
    files = {rel for rel in listed if rel and not _skipped(rel)
             and ((source / rel).is_file() or (source / rel).is_symlink())}
    return sorted(files)


def released_from(source: Path) -> str:
    """The source commit for the record (`abc1234`, `abc1234+changes` when the tree differs), or "unknown"."""
    try:
        head = subprocess.run(["git", "-C", str(source), "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, timeout=30)
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


# -- rewriters ---------------------------------------------------------------------------------
REWRITERS: dict[str, Callable[..., str]] = {}


def rewriter(kind: str):
    """Register `func(text, *, variables, **options) -> text` as the rewriter named `kind` in the manifest."""
    def register(func):
        REWRITERS[kind] = func
        return func
    return register


def _round_trip_yaml():
    from ruamel.yaml import YAML  # comments and layout survive a round trip (PyYAML drops them)

    yml = YAML()
    yml.preserve_quotes = True
    yml.width = 4096
    yml.indent(mapping=2, sequence=4, offset=2)
    return yml


@rewriter("rubric-without-hidden")
def rubric_without_hidden(text: str, *, variables: dict, path: Path = RUBRIC_PATH) -> str:
    """The rubric without `visibility: hidden` checks and without its tasks' `hidden_chaffs:` files
    (task 10's hidden planted faults, each one check); each task that had some says how many
    (`hidden:`). `path` is the rubric's own file: the chaffs files it names are beside it.

    Comments and layout are kept (ruamel.yaml round trip). The result must still load with
    grader.rubric and contain no hidden check.
    """
    from ruamel.yaml.comments import CommentedMap

    yml = _round_trip_yaml()
    data = yml.load(text)
    for task in data.get("tasks") or []:
        checks = task.get("checks") or []
        hidden = [i for i, c in enumerate(checks) if c.get("visibility") == "hidden"]
        chaffs = load_chaffs(path.parent / task["hidden_chaffs"]) if task.get("hidden_chaffs") else ()
        if not hidden and not chaffs:
            continue
        points = sum(checks[i]["points"] for i in hidden) + sum(c.points for c in chaffs)
        summary = CommentedMap(checks=len(hidden) + len(chaffs),
                               points=int(points) if float(points).is_integer() else points)
        summary.fa.set_flow_style()
        for index in reversed(hidden):
            _delete_keeping_trailing_comment(checks, index)
        if "hidden_chaffs" in task:
            del task["hidden_chaffs"]
        task.insert(list(task).index("checks"), "hidden", summary,
                    comment="run only in the instructor's grading; not in this edition")
    out = io.StringIO()
    yml.dump(data, out)
    return out.getvalue()


def _delete_keeping_trailing_comment(seq, index: int) -> None:
    """Delete seq[index]; a blank line or comment after the last item moves to the new last item."""
    item = seq[index]
    if index == len(seq) - 1 and index > 0 and hasattr(item, "ca") and item:
        trailing = item.ca.items.get(list(item)[-1])
        previous = seq[index - 1]
        if trailing and trailing[2] is not None and hasattr(previous, "ca") and previous:
            last = list(previous)[-1]
            slot = previous.ca.items.setdefault(last, [None, None, None, None])
            if slot[2] is None:
                slot[2] = trailing[2]
    del seq[index]


@rewriter("makefile-targets")
def makefile_targets(text: str, *, variables: dict, keep: list[str], header: str | None = None) -> str:
    """A Makefile with only the rules of `keep` (their comments and recipes), a matching .PHONY line,
    and no variable that nothing left uses. `header` replaces the comment lines at the top.

    Rules are recognised by GNU make's layout: `target: ... ## help` at column 0, recipe lines
    starting with a tab.
    """
    lines = text.splitlines()
    rule = re.compile(r"^([A-Za-z0-9_.-]+)\s*:(?!=)")
    out, pending, current = [], [], None
    found = set()
    for line in lines:
        match = rule.match(line)
        if match and match.group(1) != ".PHONY":
            current = match.group(1)
            if current in keep:
                found.add(current)
                out += pending + [line]
            pending = []
        elif line.startswith("\t") and current is not None:
            if current in keep:
                out.append(line)
        elif line.startswith("#") and current is not None:
            pending.append(line)          # a comment above the next rule belongs to it
        else:
            if line.strip():
                current = None
            out += pending + [line]
            pending = []
    missing = [t for t in keep if t not in found]
    if missing:
        raise ReleaseError(f"Makefile has no target(s) {', '.join(missing)} to keep")
    out = [f".PHONY: {' '.join(t for t in keep)}" if line.startswith(".PHONY:") else line for line in out]
    out = _drop_unused_variables(out)
    if header is not None:
        while out and out[0].startswith("#"):
            out.pop(0)
        out = [f"# {h}" if h else "#" for h in header.strip().splitlines()] + out
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"


def _drop_unused_variables(lines: list[str]) -> list[str]:
    assignment = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(?:\?=|:=|::=|\+=|=)")
    while True:
        body = "\n".join(lines)
        unused = [i for i, line in enumerate(lines) if (m := assignment.match(line))
                  and not re.search(r"\$[({]" + re.escape(m.group(1)) + r"[)}]", body)]
        if not unused:
            return lines
        lines = [line for i, line in enumerate(lines) if i not in unused]


@rewriter("notebook-clear-outputs")
def notebook_clear_outputs(text: str, *, variables: dict) -> str:
    """The notebook without stored outputs and execution counts (they came from the reference's run)."""
    import nbformat

    notebook = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nbformat.validate(notebook)
    return nbformat.writes(notebook)


@rewriter("toml-drop-tables")
def toml_drop_tables(text: str, *, variables: dict, tables: list[str]) -> str:
    """The TOML file without the dotted `tables` (e.g. `tool.importlinter`), comments elsewhere kept (tomlkit)."""
    import tomlkit  # imported here, like ruamel.yaml and nbformat: only a release needs them

    text = _drop_comments_above(text, [re.compile(r"^\[\[?\s*" + re.escape(t) + r"[\].]") for t in tables])
    document = tomlkit.parse(text)
    for dotted in tables:
        *parents, name = dotted.split(".")
        node = document
        for part in parents:
            node = node.get(part) if hasattr(node, "get") else None
        if node is None or name not in node:
            raise ReleaseError(f"no table [{dotted}] to drop")
        del node[name]
    result = tomlkit.dumps(document)
    tomlkit.parse(result)   # still valid TOML
    return result


def _drop_comments_above(text: str, headers: list[re.Pattern]) -> str:
    """Remove the comment lines directly above the first header of a dropped table: they describe it."""
    lines = text.splitlines(keepends=True)
    for header in headers:
        first = next((i for i, line in enumerate(lines) if header.match(line)), None)
        if first is None:
            continue
        start = first
        while start > 0 and lines[start - 1].lstrip().startswith("#"):
            start -= 1
        del lines[start:first]
    return "".join(lines)


def render(text: str, variables: dict, *, where: str) -> str:
    """Replace every `@@name@@` with variables[name]; an unknown name is a ReleaseError naming `where`."""
    unknown = sorted({m.group(1) for m in TEMPLATE_VARIABLE.finditer(text)} - set(variables))
    if unknown:
        raise ReleaseError(f"{where}: unknown template variable(s) {', '.join(unknown)}; "
                           f"known: {', '.join(sorted(variables))}")
    return TEMPLATE_VARIABLE.sub(lambda m: str(variables[m.group(1)]), text)


# -- fingerprints of what must not leak --------------------------------------------------------
@dataclass(frozen=True)
class Fingerprint:
    """Something that betrays reference content: a `line` or `identifier` (whitespace-collapsed
    text searched for as a substring), or the `sha256` of a secret file that is not text.
    `origin` says where it comes from (path:line, or the rubric entry)."""

    kind: str
    text: str
    origin: str


@dataclass(frozen=True)
class Leak:
    """A fingerprint found in a file of the edition."""

    path: str
    fingerprint: Fingerprint

    def __str__(self) -> str:
        return f"{self.path}: {self.fingerprint.kind} from {self.fingerprint.origin}: {self.fingerprint.text[:100]!r}"


def collapse(text: str) -> str:
    """Whitespace runs to one space, ends stripped: the form fingerprints are compared in."""
    return " ".join(text.split())


def hidden_modules(rubric: Rubric, source: Path) -> dict[str, Path]:
    """The modules implementing the rubric's hidden checks (found through the registry, not by
    file name), as {dotted name: path under `source`}. Raises ReleaseError when one is missing."""
    registry.load_all()
    found = {}
    for spec in rubric.checks:
        if spec.visibility != "hidden":
            continue
        try:
            module = registry.get(spec.id).func.__module__
        except KeyError as exc:
            raise ReleaseError(str(exc.args[0])) from None
        found[module] = source / (module.replace(".", "/") + ".py")
    return found


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def _files_under(files: list[str], patterns) -> list[str]:
    return [rel for rel in files if any(matches(rel, p) for p in patterns)]


def fingerprints(*, source: Path = SOURCE, manifest: Manifest | None = None,
                 rubric: Rubric | None = None) -> tuple[Fingerprint, ...]:
    """What must not appear anywhere in a student edition, taken from the source repository.

    - Lines of the reference (`solutions/`) and of every `secret:` file of the manifest: each line
      of at least MIN_LINE characters (whitespace collapsed) that does not also occur in what
      students are meant to have — the skeleton deliverables at the root, `starter/`, `labs/`
      (a secret file among them, such as a hidden data file in labs/, does not count).
    - The hidden checks' modules (found through the registry, whatever their file names): their
      lines likewise, where also the other grader modules count as students' material (they share
      imports and idioms), and the names they define, their module name and check ids.
    - The hidden rubric entries: id, title and hint.
    - A secret file that is not UTF-8 text: its SHA-256.
    A fingerprint that occurs in the students' material is not one: the decision is "distinctive =
    absent from what students legitimately get", never a list kept by hand.
    """
    rubric = rubric or load_rubric()
    files = source_files(source)
    modules = hidden_modules(rubric, source)
    module_rels = {p.relative_to(source).as_posix() for p in modules.values()}
    patterns = (REFERENCE,) + (manifest.secret if manifest else ())
    # The reference first: a line it shares with another secret file (labs/states/10 is a copy of
    # its container tests) is named after the reference.
    secret = sorted(set(_files_under(files, patterns)) | module_rels, key=lambda rel: (not matches(rel, REFERENCE), rel))

    material = [rel for rel in files if rel not in secret
                and (rel in DELIVERABLES or any(rel.startswith(p) for p in STUDENT_MATERIAL))]
    students = collapse("\n".join(filter(None, (_read_text(source / rel) for rel in material))))
    grader_code = [rel for rel in files if rel.startswith("grader/") and rel.endswith(".py")
                   and rel not in module_rels and rel not in secret]
    with_code = students + " " + collapse("\n".join(filter(None, (_read_text(source / r) for r in grader_code))))

    prints: dict[tuple[str, str], Fingerprint] = {}

    def add(kind: str, text: str, origin: str, baseline: str) -> None:
        text = collapse(text)
        if text and text not in baseline and (kind, text) not in prints:
            prints[(kind, text)] = Fingerprint(kind=kind, text=text, origin=origin)

    for rel in secret:
        path = source / rel
        text = _read_text(path)
        if text is None:
            if path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                prints[("sha256", digest)] = Fingerprint(kind="sha256", text=digest, origin=rel)
            continue
        baseline = with_code if rel in module_rels else students
        for number, line in enumerate(text.splitlines(), 1):
            if rel.endswith(".py") and IMPORT_LINE.match(line):
                continue   # any module may import the same names: not a sign of this one
            if len(collapse(line)) >= MIN_LINE and re.search(r"[A-Za-z]", line):
                add("line", line, f"{rel}:{number}", baseline)
    for module, path in modules.items():
        names = {module.rsplit(".", 1)[1]}
        text = _read_text(path) or ""
        try:
            tree = ast.parse(text)
        except SyntaxError:
            tree = ast.Module(body=[], type_ignores=[])
        names |= {node.name for node in tree.body
                  if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
        for name in sorted(names):
            if len(name) >= MIN_IDENTIFIER:
                add("identifier", name, f"{module} defines it", with_code)
    for spec in rubric.checks:
        if spec.visibility == "hidden":
            add("identifier", spec.id, f"hidden rubric entry {spec.id}", with_code)
            add("line", spec.title, f"hidden rubric entry {spec.id} (title)", with_code)
            add("line", spec.hint, f"hidden rubric entry {spec.id} (hint)", with_code)
    return tuple(prints.values())


def searchable(path: Path) -> tuple[str, bytes]:
    """(whitespace-collapsed text, raw bytes) of one file. A notebook's text is its raw JSON plus its
    cells' decoded sources and outputs, so a line escaped inside JSON strings is still found."""
    raw = path.read_bytes()
    text = raw.decode("utf-8", "replace")
    if path.suffix == ".ipynb":
        try:
            notebook = json.loads(text)
        except ValueError:
            notebook = {}
        parts = [text]
        for cell in notebook.get("cells", []) if isinstance(notebook, dict) else []:
            parts.append(_joined(cell.get("source")))
            for output in cell.get("outputs") or []:
                parts.append(_joined(output.get("text")))
                for value in (output.get("data") or {}).values():
                    parts.append(_joined(value))
        text = "\n".join(parts)
    return collapse(text), raw


def _joined(value) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return value if isinstance(value, str) else ""


def find_leaks(edition: Path, prints: tuple[Fingerprint, ...]) -> list[Leak]:
    """Every fingerprint found in every file under `edition` (symlinks are not followed)."""
    digests = {p.text: p for p in prints if p.kind == "sha256"}
    texts = [p for p in prints if p.kind != "sha256"]
    leaks = []
    for path in sorted(edition.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        rel = path.relative_to(edition).as_posix()
        text, raw = searchable(path)
        digest = hashlib.sha256(raw).hexdigest()
        if digest in digests:
            leaks.append(Leak(rel, digests[digest]))
        leaks += [Leak(rel, p) for p in texts if p.text in text]
    return leaks


# -- the release -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReleaseReport:
    """What `build` wrote: counts, sizes in bytes, the paths left out / rewritten / added, seconds."""

    dest: Path
    files: int
    bytes: int
    left_out: tuple[str, ...]
    rewritten: tuple[str, ...]
    added: tuple[str, ...]
    unused_patterns: tuple[str, ...]
    fingerprints: int
    released_from: str
    seconds: float

    def summary(self) -> str:
        """A few lines for the terminal."""
        lines = [f"student edition written to {self.dest}: {self.files} files, {self.bytes / 1e6:.1f} MB "
                 f"(from {self.released_from}, {self.seconds:.1f} s)",
                 f"  left out:  {len(self.left_out)} files: {', '.join(_tops(self.left_out))}",
                 f"  rewritten: {', '.join(_grouped(self.rewritten))}",
                 f"  laid over: {', '.join(self.added)}",
                 f"  checked:   no reference content found ({self.fingerprints} fingerprints of solutions/ "
                 "and the hidden checks)"]
        if self.unused_patterns:
            lines.append(f"  note: these manifest patterns matched nothing: {', '.join(self.unused_patterns)}")
        return "\n".join(lines)


def _grouped(paths) -> list[str]:
    """Paths with the files of one folder and suffix shown once: `notebooks/*.ipynb (10)`."""
    groups: dict[str, list[str]] = {}
    for rel in paths:
        folder, _, name = rel.rpartition("/")
        key = f"{folder}/*{Path(name).suffix}" if folder else rel
        groups.setdefault(key, []).append(rel)
    return [members[0] if len(members) == 1 else f"{key} ({len(members)})" for key, members in groups.items()]


def _tops(paths) -> list[str]:
    """Top-level folders with their file counts, and single files by path: `tests/ (62)`, `.ci/run`."""
    groups: dict[str, list[str]] = {}
    for rel in paths:
        groups.setdefault(rel.split("/", 1)[0], []).append(rel)
    return [members[0] if len(members) == 1 else f"{top}/ ({len(members)})" for top, members in groups.items()]


def check_destination(dest: Path, source: Path) -> None:
    """Raise ReleaseError unless `dest` may be (re)written: outside the source, and missing, empty
    or an earlier edition (it has the edition marker) — never anything else, which would be lost."""
    if dest == source or dest.is_relative_to(source) or source.is_relative_to(dest):
        raise ReleaseError(f"--dest {dest} overlaps the repository {source}; choose a folder outside it")
    if dest.exists() and not dest.is_dir():
        raise ReleaseError(f"--dest {dest} exists and is not a folder")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / MARKER).is_file():
        raise ReleaseError(f"--dest {dest} exists, is not empty and is not an earlier student edition "
                           f"(no {MARKER}); refusing to replace it")


def variables(*, rubric: Rubric, fail_below_full: bool, source_commit: str, released_at: str) -> dict:
    """The `@@name@@` values for rendered files (figures from the rubric, the CI policy, provenance)."""
    hidden_checks, hidden_points = rubric.hidden()
    one = hidden_checks == 1
    return {
        "student_points": f"{rubric.max_points():g}",
        "hidden_checks": str(hidden_checks),
        "hidden_points": f"{hidden_points:g}",
        "hidden_note": (f"Your instructor's grading adds {hidden_checks} hidden check{'' if one else 's'} "
                        f"worth {hidden_points:g} points, which this repository does not contain."
                        if hidden_checks else ""),
        "fail_below_full": "true" if fail_below_full else "false",
        "ci_policy": ("fails the job below full marks" if fail_below_full else
                      "fails only when the grader cannot grade; a score below full marks is reported, not failed"),
        "grader_version": __version__,
        "released_from": source_commit,
        "released_at": released_at,
    }


def build(*, dest: Path, source: Path = SOURCE, fail_below_full: bool = False,
          manifest_path: Path | None = None) -> ReleaseReport:
    """Write the student edition of `source` to `dest` and prove it holds no reference content.

    `dest` must be outside `source` and missing, empty, or an earlier edition (replaced). The
    edition is built in a sibling folder and moved into place only when complete and clean, so a
    failure leaves `dest` as it was. Raises ReleaseError (bad destination or manifest, a rewrite
    that fails, reference content found: the message lists every leak).
    """
    started = time.monotonic()
    source, dest = source.resolve(), dest.resolve()
    manifest = load_manifest(source / (manifest_path or MANIFEST))
    check_destination(dest, source)
    rubric = load_rubric(source / RUBRIC_PATH.relative_to(SOURCE)) if source != SOURCE else load_rubric()
    commit = released_from(source)
    released_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    values = variables(rubric=rubric, fail_below_full=fail_below_full, source_commit=commit, released_at=released_at)
    files = source_files(source)
    overlay_root = source / manifest.overlay if manifest.overlay else None
    if overlay_root is not None and not overlay_root.is_dir():
        raise ReleaseError(f"the manifest's overlay folder {manifest.overlay} does not exist")

    dest.parent.mkdir(parents=True, exist_ok=True)
    work = dest.parent / f".{dest.name}.release-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    try:
        left_out, rewritten, used = [], [], set()
        for rel in files:
            hit = [p for p in manifest.excluded if matches(rel, p)]
            if hit:
                left_out.append(rel)
                used.update(hit)
                continue
            _copy(source / rel, work / rel, rel=rel, manifest=manifest, values=values, rewritten=rewritten)
        missing = [r.path for r in manifest.rewrites if not any(matches(rel, r.path) for rel in rewritten)]
        if missing:
            raise ReleaseError(f"rewrite(s) matched no file of the edition: {', '.join(missing)}")
        added = []
        if overlay_root is not None:
            for path in sorted(p for p in overlay_root.rglob("*") if p.is_file()):
                rel = path.relative_to(overlay_root).as_posix()
                target = work / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                if any(matches(rel, p) for p in manifest.render):
                    text = render(path.read_text(encoding="utf-8"), values, where=f"{manifest.overlay}/{rel}")
                    target.write_text(text, encoding="utf-8")
                    shutil.copymode(path, target)
                else:
                    shutil.copy2(path, target)
                added.append(rel)
        (work / MARKER).write_text(
            "# Written by `python -m grader release`: this grader is the student edition of the kit\n"
            "# (grader/edition.py reads it; `--solution` and `--instructor` belong to the instructor edition).\n"
            + yaml.safe_dump({"edition": STUDENT, "grader_version": __version__, "released_from": commit,
                              "released_at": released_at, "fail_below_full": fail_below_full},
                             sort_keys=False), encoding="utf-8")
        added.append(MARKER)
        prints = fingerprints(source=source, manifest=manifest, rubric=rubric)
        leaks = find_leaks(work, prints)
        if leaks:
            shown = "\n  ".join(str(leak) for leak in leaks[:30])
            more = f"\n  ... and {len(leaks) - 30} more" if len(leaks) > 30 else ""
            raise ReleaseError(f"the edition would contain reference content ({len(leaks)} finding(s)); "
                               f"nothing was written to {dest}. Leave these files out or rewrite them in "
                               f"{MANIFEST}:\n  {shown}{more}")
        sizes = [p.lstat().st_size for p in work.rglob("*") if p.is_file() or p.is_symlink()]
        _replace(dest, work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    unused = tuple(p for p in manifest.excluded if p not in used)
    return ReleaseReport(dest=dest, files=len(sizes), bytes=sum(sizes), left_out=tuple(left_out),
                         rewritten=tuple(rewritten), added=tuple(added), unused_patterns=unused,
                         fingerprints=len(prints), released_from=commit,
                         seconds=round(time.monotonic() - started, 2))


def _copy(path: Path, target: Path, *, rel: str, manifest: Manifest, values: dict, rewritten: list) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    rule = next((r for r in manifest.rewrites if matches(rel, r.path)), None)
    if rule is None or path.is_symlink():
        shutil.copy2(path, target, follow_symlinks=False)
        return
    func = REWRITERS[rule.kind]
    where = {"path": path} if "path" in inspect.signature(func).parameters else {}  # a rewriter that reads files beside it
    try:
        text = func(path.read_text(encoding="utf-8"), variables=values, **where, **rule.options)
    except TypeError as exc:
        raise ReleaseError(f"{MANIFEST}: rewrite `{rule.kind}` of {rel}: bad options ({exc})") from None
    except ReleaseError as exc:
        raise ReleaseError(f"rewrite `{rule.kind}` of {rel}: {exc}") from None
    except Exception as exc:  # a rewriter's library error: name the file and the rule
        raise ReleaseError(f"rewrite `{rule.kind}` of {rel} failed: {type(exc).__name__}: {exc}") from None
    target.write_text(text, encoding="utf-8")
    shutil.copymode(path, target)
    rewritten.append(rel)


def _replace(dest: Path, work: Path) -> None:
    """Move the finished edition into place; an earlier edition at `dest` goes only after that worked."""
    if not dest.exists():
        os.replace(work, dest)
        return
    old = dest.parent / f".{dest.name}.old-{uuid.uuid4().hex[:8]}"
    os.replace(dest, old)
    try:
        os.replace(work, dest)
    except OSError:
        os.replace(old, dest)
        raise
    shutil.rmtree(old, ignore_errors=True)
