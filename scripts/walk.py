"""The student's path: per-lab reference states, the handouts' cells as a terminal sees them, and a
walk through the labs in one plain bash session (`python -m scripts.walk`).

- **States** (`labs/states/NN/`): the deliverables as the handout of lab NN leaves them, written
  from the handouts' own snippets. The submission at the end of lab N is this repository (its
  deliverables are skeletons) with the folders 02..N laid over it in order
  (`make_submission`). `tests/walk/test_states.py` keeps the states and the handouts' snippets
  equal, `tests/walk/test_progressive.py` grades each state on its own task.
- **Cells** (`handout_steps`): a handout's code cells in order, with the point where its exercise
  is done (the heading `## Exercise...`), each cell's checked output, and the declared mark of a
  cell that only a notebook can run (`NOTEBOOK_ONLY`), which may name the terminal equivalent.
- **Walk** (`walk`): a scratch copy of the repository, one bash session started from its root as a
  fresh terminal is (no venv on PATH, no lab variables), every cell of labs 1..10 pasted in order,
  the state of lab N laid in at lab N's exercise; checked outputs compared after the same
  sanitizing as nbval (notebooks/sanitize.cfg).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from scripts import notebooks as gen

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
LABS = REPO / "labs"
STATES = LABS / "states"
SANITIZE_CONFIG = REPO / "notebooks" / "sanitize.cfg"
# The declared mark of a cell that only a notebook can run (Python, magics), on a comment line of
# its own; what follows "run instead:" is the command a terminal runs in its place (if any).
# e.g. `# notebook-only; in a terminal at the repository root, run instead: source .venv/bin/activate`
NOTEBOOK_ONLY = re.compile(r"^# notebook-only(?:;[^:\n]*run instead: (?P<terminal>.+?))?\s*$", re.M)
# A lab's exercise is done where its handout has a heading "## Exercise..." (one per lab with a state).
EXERCISE_HEADING = re.compile(r"^#{2,3} Exercise\b.*$", re.M)
HEADING = re.compile(r"^(#{1,6}) (?P<title>.+)$", re.M)
# The grading cell of lab N (its last cell): `python -m grader --task N` (see labs/README.md).
GRADING_CELL = re.compile(r"^python -m grader(?: --task \d+)?(?: 2>&1)?$", re.M)
HISTORY_ERROR = re.compile(r"^bash: .*: event not found$", re.M)
CELL_TIMEOUT = 900.0          # seconds, as nbval's --nbval-cell-timeout in scripts/test-notebooks.sh


class WalkError(RuntimeError):
    """The walk cannot go on (the session died, a cell hung); the message says which cell."""


# -- states ----------------------------------------------------------------------------------
def state_dirs(states: Path = STATES) -> dict[int, Path]:
    """{lab number: its folder labs/states/NN} for every lab whose exercise changes a deliverable."""
    return {int(p.name): p for p in sorted(states.iterdir()) if p.is_dir() and re.fullmatch(r"\d\d", p.name)}


def _own_files(folder: Path) -> dict[str, Path]:
    """{path relative to the folder: file} of one state folder (Lab 10's tests are in tests/container/)."""
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "README.md"}


def state_files(lab: int, states: Path = STATES) -> dict[str, Path]:
    """{deliverable path: the file it is at the end of lab `lab`}, for every deliverable labs <= `lab` wrote."""
    files: dict[str, Path] = {}
    for number, folder in state_dirs(states).items():
        if number <= lab:
            files.update(_own_files(folder))
    return files


def apply_state(dest: Path, lab: int, *, only: bool = False, states: Path = STATES) -> list[str]:
    """Write the deliverables of lab `lab` into `dest` (with `only`: just the files lab `lab` itself
    writes; else everything labs <= `lab` wrote). Returns the paths written (relative to `dest`)."""
    if only:
        folder = state_dirs(states).get(lab)
        files = _own_files(folder) if folder else {}
    else:
        files = state_files(lab, states)
    for name, path in files.items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest / name)
    return sorted(files)


# Which handout snippets a deliverable is made of: its fenced-block language, or (for
# .dockerignore) the `inline code` in the first column of a handout table headed `| Pattern |`.
SNIPPET_LANGUAGE = {"Dockerfile.mlapp": "dockerfile", "Dockerfile.mlflow": "dockerfile",
                    "docker-compose.yml": "yaml", ".dockerignore": "table"}
# Lab 10's exercise has no snippet to copy: the student writes container tests that catch faults
# the handout only describes. Its state is the kit's reference suite, file for file (held equal by
# tests/walk/test_states.py), so the end of lab 10 scores full marks on task 10.
REFERENCE_STATES = {"tests/container/test_api_container.py": REPO / "solutions/tests/container/test_api_container.py"}
FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
PATTERN_TABLE = re.compile(r"^\| *Pattern *\|.*\n\|[- :|]+\|\n(?P<rows>(?:\|.*\n?)*)", re.M)
INLINE_CODE = re.compile(r"`([^`\n]+)`")


def significant_lines(text: str) -> list[str]:
    """A deliverable's or snippet's lines that carry meaning: stripped, no blanks, no comment lines."""
    return [s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#")]


def snippet_lines(path: Path, kind: str) -> list[str]:
    """The significant lines of a handout's snippets of one kind ("dockerfile", "yaml", "table").

    A fenced block whose info string says `example` (```` ```yaml example ````) is not a snippet.
    """
    text = path.read_text(encoding="utf-8")
    if kind == "table":
        return [code.strip() for table in PATTERN_TABLE.finditer(text) for row in table["rows"].splitlines()
                for code in INLINE_CODE.findall(row.split("|")[1])]
    found = []
    for match in FENCE.finditer(text):
        words = match["info"].split()
        if words and words[0] == kind and "example" not in words[1:]:
            found += significant_lines(match["body"])
    return found


def state_drift(lab: int, *, states: Path = STATES, labs: Path = LABS) -> list[str]:
    """How labs/states/`lab` and the handouts' snippets differ, one line per problem ([] when in step).

    Both ways: every significant line of a file the lab writes is a line of a snippet of the same
    kind in handouts 1..`lab` (Lab 9 keeps Lab 2's CMD), and every line of the lab's own snippets
    of that kind is in the deliverables at the end of the lab.
    """
    every = handouts(labs)
    folder = state_dirs(states)[lab]
    own_files = _own_files(folder)
    problems = []
    for rel, path in own_files.items():
        if rel in REFERENCE_STATES:
            if path.read_bytes() != REFERENCE_STATES[rel].read_bytes():
                problems.append(f"{folder.name}/{rel}: differs from {REFERENCE_STATES[rel].relative_to(REPO)}")
            continue
        kind = SNIPPET_LANGUAGE[path.name]
        shown = {line for n, handout in every.items() if n <= lab for line in snippet_lines(handout, kind)}
        problems += [f"{folder.name}/{path.name}: `{line}` is in no {kind} snippet of labs 1-{lab}"
                     for line in significant_lines(path.read_text(encoding="utf-8")) if line not in shown]
    state = state_files(lab, states)
    own = [p for rel, p in own_files.items() if rel not in REFERENCE_STATES]
    for kind in sorted({SNIPPET_LANGUAGE[p.name] for p in own}):
        written = {line for name, path in state.items() if SNIPPET_LANGUAGE.get(name) == kind
                   for line in significant_lines(path.read_text(encoding="utf-8"))}
        problems += [f"{every[lab].name}: the {kind} snippet line `{line}` is not in the deliverables of {folder.name}/"
                     for line in snippet_lines(every[lab], kind) if line not in written]
    return problems


def make_submission(dest: Path, *, lab: int, repo: Path = REPO) -> Path:
    """A scratch submission as it stands at the end of lab `lab`: this repository's files (later
    deliverables stay the skeletons) with labs/states/02..`lab` laid over it. Returns `dest`."""
    from grader.workspace import prepare

    prepare(submission=repo, dest=dest)
    apply_state(dest, lab)
    return dest


# -- the handouts as cells -------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    """One code cell of a handout, as a terminal user meets it."""

    lab: int
    number: int                  # 1-based, among the handout's code cells
    language: str                # "bash" (a shell cell) or "python" (and other notebook-only cells)
    source: str                  # what a terminal runs: the cell without its %%bash line
    expected: str | None         # the checked output (```output block), None if not checked
    section: str                 # the heading the cell is under
    notebook_only: bool          # carries the NOTEBOOK_ONLY mark
    terminal: str | None         # for a notebook-only cell: the command a terminal runs instead

    @property
    def grading(self) -> bool:
        """The lab's grading cell (`python -m grader --task N`)."""
        body = [ln for ln in self.source.splitlines() if ln.strip() and not ln.startswith("#")]
        return self.language == "bash" and len(body) == 1 and bool(GRADING_CELL.match(body[0]))

    @property
    def where(self) -> str:
        return f"lab {self.lab}, cell {self.number} ({self.section})"


@dataclass(frozen=True)
class Exercise:
    """The point in a handout where the student does the lab's exercise."""

    lab: int
    title: str


def handouts(labs: Path = LABS) -> dict[int, Path]:
    """{lab number: handout path} for labs/NN-*.md, in order."""
    return {int(p.task_id): p.handout for p in gen.pairs(labs=labs)}


def handout_steps(path: Path) -> list[Cell | Exercise]:
    """The handout's code cells and its exercise point, in the order a student meets them."""
    lab = int(path.name[:2])
    nb = gen.build_notebook(path.read_text(encoding="utf-8"), name=path.name)
    steps: list[Cell | Exercise] = []
    section, number = "", 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for match in HEADING.finditer(FENCE.sub("", cell.source)):  # not `# comments` in code blocks
                section = match["title"].strip()
                if EXERCISE_HEADING.match(match.group(0)):
                    steps.append(Exercise(lab=lab, title=section))
            continue
        number += 1
        source = cell.source
        language = "python"
        if source.startswith("%%bash"):
            language, source = "bash", source.split("\n", 1)[1] if "\n" in source else ""
        mark = NOTEBOOK_ONLY.search(source)
        expected = cell.outputs[0].text if cell.get("outputs") else None
        steps.append(Cell(lab=lab, number=number, language=language, source=source, expected=expected,
                          section=section, notebook_only=bool(mark) or language != "bash",
                          terminal=(mark["terminal"].strip() if mark and mark["terminal"] else None)))
    return steps


def cells(path: Path) -> list[Cell]:
    """Only the code cells of a handout."""
    return [s for s in handout_steps(path) if isinstance(s, Cell)]


# -- comparing outputs as nbval does -----------------------------------------------------------
def sanitize_patterns(config: Path = SANITIZE_CONFIG) -> list[tuple[str, str]]:
    """The (regex, replacement) pairs nbval reads from notebooks/sanitize.cfg, in order."""
    from nbval.plugin import get_sanitize_patterns

    return list(dict(get_sanitize_patterns(config.read_text(encoding="utf-8"))).items())


def sanitize(text: str, patterns: list[tuple[str, str]]) -> str:
    """`text` after every pattern, as nbval sanitizes both sides before comparing."""
    for regex, replace in patterns:
        text = re.sub(regex, replace, text)
    return text


# -- one bash session ----------------------------------------------------------------------------
def terminal_env(base: dict[str, str] | None = None, *, venv: Path | None = None) -> dict[str, str]:
    """The environment of a fresh terminal: the user's HOME and system PATH, none of the kit's state
    (no venv on PATH, no COMPOSE_PROJECT_NAME, LAB_ROOT or API_IMAGE)."""
    base = dict(os.environ if base is None else base)
    drop_dirs = {str(Path(sys.executable).parent)}
    if base.get("VIRTUAL_ENV"):
        drop_dirs.add(str(Path(base["VIRTUAL_ENV"]) / "bin"))
    if venv is not None:
        drop_dirs.add(str(venv / "bin"))
    path = [d for d in base.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(os.pathsep) if d and d not in drop_dirs]
    keep = ("HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TMPDIR", "DOCKER_HOST", "DOCKER_CONFIG",
            "DOCKER_CONTEXT", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "http_proxy", "https_proxy",
            "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "CI")
    env = {k: base[k] for k in keep if k in base}
    env.update(PATH=os.pathsep.join(path), TERM="dumb", HISTFILE="/dev/null")
    return env


@dataclass
class Ran:
    """What one pasted cell printed and its exit status."""

    stdout: str
    stderr: str
    status: int
    seconds: float


class Session:
    """One bash, fed cell after cell on a pipe, as a student pastes them into one terminal.

    Like an interactive terminal, the session lives across cells: `set -e`, `exit` or an EXIT trap
    at the top level of a cell act on the whole session, variables carry over, and `!` in double
    quotes is history expansion. Each cell ends with a marker that prints its exit status.
    Raises WalkError when the session ends or a cell runs longer than its timeout (seconds).
    """

    def __init__(self, *, cwd: Path, env: dict[str, str]) -> None:
        self._mark = f"\x1eWALK-{uuid.uuid4().hex}:"
        self._proc = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=cwd, env=env, text=True,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      bufsize=1, start_new_session=True)
        self._out: list[str] = []
        self._err: list[str] = []
        self._lock = threading.Condition()
        self._closed = {"stdout": False, "stderr": False}
        for name, stream, sink in (("stdout", self._proc.stdout, self._out), ("stderr", self._proc.stderr, self._err)):
            threading.Thread(target=self._pump, args=(name, stream, sink), daemon=True).start()
        self._send("set -o history -H\n")  # `!` in double quotes expands, as in an interactive terminal

    def _pump(self, name: str, stream, sink: list[str]) -> None:
        for chunk in iter(lambda: stream.read(1), ""):
            with self._lock:
                sink.append(chunk)
                self._lock.notify_all()
        with self._lock:
            self._closed[name] = True
            self._lock.notify_all()

    def _send(self, text: str) -> None:
        try:
            self._proc.stdin.write(text)
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise WalkError("the bash session has ended") from None

    def run(self, source: str, *, timeout: float = CELL_TIMEOUT) -> Ran:
        """Paste `source` (one cell) and wait for it: what it printed and its exit status."""
        with self._lock:
            self._out.clear()
            self._err.clear()
        start = time.monotonic()
        mark = self._mark
        self._send(source.rstrip("\n") + f"\nprintf '%s%d\\n' '{mark}' \"$?\"; printf '%s\\n' '{mark}' >&2\n")
        pattern = re.compile(re.escape(mark) + r"(-?\d+)\n\Z")
        with self._lock:
            while True:
                out, err = "".join(self._out), "".join(self._err)
                done = pattern.search(out)
                if done and err.endswith(mark + "\n"):
                    return Ran(stdout=out[:done.start()], stderr=err[:-len(mark) - 1], status=int(done.group(1)),
                               seconds=time.monotonic() - start)
                if all(self._closed.values()):
                    raise WalkError(f"the bash session ended during the cell (exit status {self._proc.wait()}): "
                                    "a command at the top level ran `exit`, or `set -e` met a failure\n"
                                    f"stdout: {out[-2000:]}\nstderr: {err[-2000:]}")
                remaining = timeout - (time.monotonic() - start)
                if remaining <= 0:
                    self.close()
                    raise WalkError(f"the cell ran longer than {timeout:.0f} s\nstdout: {out[-2000:]}\nstderr: {err[-2000:]}")
                self._lock.wait(min(remaining, 1.0))

    def close(self) -> None:
        """End the session and every process it started."""
        if self._proc.poll() is None:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self._proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self._proc.wait()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- what the labs leave on the engine --------------------------------------------------------------
# The names the labs give what they create (labs/README.md; the same rule as scripts/test-notebooks.sh):
# containers labNN-..., compose projects labNN (networks and volumes labNN_..., images labelled with
# the project), image tags churn-api:*, mlflow-server:*, labNN-*:*, and the registry's localhost:5005/...
LAB_NAMES = re.compile(r"^(container lab\d\d-|(network|volume) lab\d\d[-_]|image (churn-api|mlflow-server|lab\d\d-[a-z0-9-]+):"
                       r"|image localhost:5005/|(container|image) .* lab\d\d$)")


def _docker_lines(*args: str) -> list[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise WalkError(f"docker {' '.join(args)} failed: {result.stderr.strip()}")
    return [line.rstrip() for line in result.stdout.splitlines() if line.strip()]


def engine_snapshot() -> set[str]:
    """What exists on the engine, one "kind name [project]" per entry (untagged images are build cache)."""
    entries = [f"container {line}" for line in _docker_lines(
        "ps", "--all", "--format", '{{.Names}} {{.Label "com.docker.compose.project"}}')]
    entries += [f"network {line}" for line in _docker_lines("network", "ls", "--format", "{{.Name}}")]
    entries += [f"volume {line}" for line in _docker_lines("volume", "ls", "--format", "{{.Name}}")]
    entries += [f"image {line}" for line in _docker_lines("image", "ls", "--format", "{{.Repository}}:{{.Tag}}")]
    for lab in handouts():
        entries += [f"image {line} lab{lab:02d}" for line in _docker_lines(
            "image", "ls", "--filter", f"label=com.docker.compose.project=lab{lab:02d}",
            "--format", "{{.Repository}}:{{.Tag}}")]
    return {e.strip() for e in entries if "<none>" not in e}


def lab_leftovers(before: set[str]) -> list[str]:
    """What the labs made since `before` and left behind (lab names only: other work shares the engine)."""
    return sorted(e for e in engine_snapshot() - before if LAB_NAMES.match(e))


def remove_leftovers(entries: list[str]) -> list[str]:
    """Remove what a walk left (image tags with --no-prune: the build cache stays). Returns what failed."""
    commands = {"container": ["rm", "-f", "-v"], "network": ["network", "rm"], "volume": ["volume", "rm", "-f"],
                "image": ["image", "rm", "--no-prune"]}
    failed = []
    for entry in entries:
        kind, name = entry.split()[:2]
        if subprocess.run(["docker", *commands[kind], name], capture_output=True).returncode != 0:
            failed.append(entry)
    return failed


def other_lab_containers() -> list[str]:
    """Containers named like a lab's (labNN-...): another lab run shares this engine and its ports."""
    return [line for line in _docker_lines("ps", "--all", "--format", "{{.Names}}") if re.match(r"lab\d\d-", line)]


# -- the walk --------------------------------------------------------------------------------
@dataclass
class CellResult:
    """How one cell fared in the walk: ran, skipped (and why) or failed (and why)."""

    cell: Cell
    outcome: str                 # "passed", "failed", "skipped"
    reason: str = ""
    ran: Ran | None = None

    def describe(self) -> str:
        text = f"{self.outcome:<7} {self.cell.where}"
        return text + (f": {self.reason}" if self.reason else "")


@dataclass
class WalkReport:
    """Every cell's result and each lab's duration (seconds)."""

    results: list[CellResult] = field(default_factory=list)
    lab_seconds: dict[int, float] = field(default_factory=dict)
    leftovers: list[str] = field(default_factory=list)   # what the labs' clean-up cells left (then removed)

    @property
    def failures(self) -> list[CellResult]:
        return [r for r in self.results if r.outcome == "failed"]

    def summary(self) -> str:
        counts = {k: sum(1 for r in self.results if r.outcome == k) for k in ("passed", "failed", "skipped")}
        lines = [f"lab {lab:>2}: {seconds:6.0f} s" for lab, seconds in self.lab_seconds.items()]
        lines.append(f"total:  {sum(self.lab_seconds.values()):6.0f} s; cells: {counts['passed']} passed, "
                     f"{counts['failed']} failed, {counts['skipped']} skipped")
        if self.leftovers:
            lines.append("left behind by the labs' clean-up cells (now removed): " + ", ".join(self.leftovers))
        return "\n".join(lines)


def judge(cell: Cell, ran: Ran, patterns: list[tuple[str, str]]) -> CellResult:
    """The result of a cell that ran: it must succeed, and a checked cell print exactly its output."""
    if ran.status != 0:
        return CellResult(cell, "failed", f"exit status {ran.status}\n{_tail(ran.stdout)}{_tail(ran.stderr)}", ran)
    if HISTORY_ERROR.search(ran.stderr):  # bash skipped a line: `!` in double quotes in a terminal
        return CellResult(cell, "failed", f"a line was not run, `!` expands in a terminal:\n{_tail(ran.stderr)}", ran)
    if cell.expected is not None:
        want, got = sanitize(cell.expected, patterns), sanitize(ran.stdout, patterns)
        if want != got:
            return CellResult(cell, "failed", f"its output differs from the handout's\n--- expected\n{want}--- got\n{got}"
                              f"{_tail(ran.stderr)}", ran)
        if ran.stderr:
            return CellResult(cell, "failed", f"a checked cell wrote to stderr:\n{_tail(ran.stderr)}", ran)
    return CellResult(cell, "passed", ran=ran)


def _tail(text: str, lines: int = 30) -> str:
    return "".join(text.splitlines(keepends=True)[-lines:]) if text else ""


def _labs(selected: Iterator[int] | None, labs: Path) -> list[tuple[int, Path]]:
    every = handouts(labs)
    chosen = sorted(set(selected) if selected is not None else every)
    unknown = [n for n in chosen if n not in every]
    if unknown:
        raise ValueError(f"no handout for lab(s) {unknown}")
    return [(n, every[n]) for n in chosen]


def walk(workdir: Path, *, labs: Iterator[int] | None = None, grade_cells: bool = False,
         on_result: Callable[[CellResult], None] | None = None, timeout: float = CELL_TIMEOUT,
         env: dict[str, str] | None = None, handout_dir: Path = LABS) -> WalkReport:
    """Walk the labs in one bash session started in `workdir` (a submission with a `.venv`).

    Before lab N's first cell the deliverables are as labs < N left them (labs/states); at lab N's
    exercise heading lab N's state is laid in. Notebook-only cells are skipped by their mark (their
    terminal equivalent, if they name one, runs instead). Grading cells run only with
    `grade_cells` (tests/walk/test_progressive.py grades the same states through the API).
    Stops at the first cell that fails; raises WalkError when the session dies or a cell hangs.
    """
    report = WalkReport()
    patterns = sanitize_patterns()
    chosen = _labs(labs, handout_dir)
    others = other_lab_containers()
    if others:
        raise WalkError(f"containers of another lab run exist ({', '.join(others)}): the labs share fixed host "
                        "ports (5000, 5001, 5005); walk when they are gone")
    if chosen:
        apply_state(workdir, chosen[0][0] - 1)
    before = engine_snapshot()
    try:
        with Session(cwd=workdir, env=env or terminal_env(venv=workdir / ".venv")) as session:
            for lab, path in chosen:
                if not _walk_lab(session, lab, path, workdir=workdir, report=report, grade_cells=grade_cells,
                                 patterns=patterns, timeout=timeout, on_result=on_result):
                    break
    finally:
        report.leftovers = lab_leftovers(before)
        remove_leftovers(report.leftovers)
    return report


def _walk_lab(session: Session, lab: int, path: Path, *, workdir: Path, report: WalkReport, grade_cells: bool,
              patterns, timeout: float, on_result) -> bool:
    """Walk one lab; False when a cell failed (the walk stops there)."""
    start = time.monotonic()
    try:
        for step in handout_steps(path):
            if isinstance(step, Exercise):
                written = apply_state(workdir, lab, only=True)
                log.info("lab %d: exercise %r done by labs/states/%02d (%s)", lab, step.title, lab,
                         ", ".join(written) or "no deliverable changes")
                continue
            result = _run_cell(session, step, grade_cells=grade_cells, patterns=patterns, timeout=timeout)
            report.results.append(result)
            if on_result:
                on_result(result)
            if result.outcome == "failed":
                return False
        return True
    finally:
        report.lab_seconds[lab] = time.monotonic() - start


def _run_cell(session: Session, cell: Cell, *, grade_cells: bool, patterns, timeout: float) -> CellResult:
    if cell.notebook_only:
        if not cell.terminal:
            return CellResult(cell, "skipped", "notebook-only")
        ran = session.run(cell.terminal, timeout=timeout)
        outcome = "passed" if ran.status == 0 else "failed"
        return CellResult(cell, outcome, f"notebook-only; ran its terminal equivalent `{cell.terminal}`"
                          + ("" if ran.status == 0 else f": exit status {ran.status}\n{_tail(ran.stderr)}"), ran)
    if cell.grading and not grade_cells:
        return CellResult(cell, "skipped", "grading cell (graded by tests/walk/test_progressive.py)")
    try:
        ran = session.run(cell.source, timeout=timeout)
    except WalkError as exc:
        return CellResult(cell, "failed", str(exc))
    return judge(cell, ran, patterns)


def scratch_clone(dest: Path, *, repo: Path = REPO) -> Path:
    """A scratch copy of the repository as a fresh clone after `make setup`: the committed files,
    skeleton deliverables, and `.venv` (a link to this repository's virtual environment)."""
    from grader.workspace import prepare

    prepare(submission=repo, dest=dest)
    venv = (repo / ".venv").resolve()
    if not (venv / "bin" / "activate").exists():
        raise WalkError(f"no virtual environment at {repo / '.venv'}: run `make setup`")
    (dest / ".venv").symlink_to(venv, target_is_directory=True)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.walk", description=__doc__.split("\n\n")[0])
    parser.add_argument("--labs", default="1-10", help="labs to walk, e.g. 1-10, 5-7 or 2,4 (default: 1-10)")
    parser.add_argument("--grade", action="store_true", help="also run the grading cells")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    chosen: set[int] = set()
    for part in args.labs.split(","):
        low, _, high = part.partition("-")
        chosen.update(range(int(low), int(high or low) + 1))
    work = Path(tempfile.mkdtemp(prefix="mlops-walk-"))
    try:
        workdir = scratch_clone(work / "repo")
        report = walk(workdir, labs=iter(sorted(chosen)), grade_cells=args.grade,
                      on_result=lambda r: print(r.describe(), flush=True))
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(report.summary())
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
