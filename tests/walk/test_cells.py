"""The handouts' cells as a terminal meets them: every command runs as written in a plain bash from the
repository root. Static rules on the handouts, and the walk's bash session (pure logic: no engine)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scripts import walk

HANDOUTS = walk.handouts()
CELLS = [cell for path in HANDOUTS.values() for cell in walk.cells(path)]
HEREDOC = re.compile(r"<<-?\s*'?(\w+)'?")
# What a pasted block must not do at the top level of a terminal: change its options, trap its exit, exit.
SESSION_CHANGES = re.compile(r"(^|[;&|(]\s*)(set -[a-zA-Z]*[eu]|trap |exit\b)")


def top_level_lines(source: str) -> list[str]:
    """The cell's shell lines outside here-documents, without comment lines."""
    lines, end = [], None
    for line in source.splitlines():
        if end is not None:
            end = None if line.strip() == end else end
            continue
        match = HEREDOC.search(line)
        if match:
            end = match.group(1)
        if line.strip() and not line.lstrip().startswith("#"):
            lines.append(line)
    return lines


@pytest.mark.parametrize("cell", [c for c in CELLS if c.language == "bash"], ids=lambda c: f"lab{c.lab:02d}-{c.number}")
def test_a_shell_cell_is_safe_to_paste_into_a_terminal(cell):
    """`set -e`, traps and `exit` live in a `( ... )` subshell, so they end with the block, not the terminal."""
    lines = top_level_lines(cell.source)
    if any(SESSION_CHANGES.search(line) for line in lines):
        assert lines[0].startswith("( set -euo pipefail") and lines[-1] == ")", (
            f"{cell.where}: a block with `set -e`, `trap` or `exit` must be one subshell, "
            f"`( set -euo pipefail` ... `)` (labs/README.md):\n{cell.source}")


@pytest.mark.parametrize("cell", [c for c in CELLS if c.language != "bash"], ids=lambda c: f"lab{c.lab:02d}-{c.number}")
def test_a_cell_a_terminal_cannot_run_says_so(cell):
    """Python cells and magics carry the declared mark, with the terminal's equivalent if there is one."""
    assert walk.NOTEBOOK_ONLY.search(cell.source), (
        f"{cell.where} is not a shell cell: mark it `# notebook-only; ... run instead: COMMAND` or make it a "
        f"```bash cell:\n{cell.source[:300]}")


def test_only_the_setup_cells_are_notebook_only():
    only = [c for c in CELLS if c.notebook_only]
    assert [c.lab for c in only] == sorted(HANDOUTS), [c.where for c in only]
    assert all(c.number == 1 and c.terminal == "source .venv/bin/activate" for c in only)


@pytest.mark.parametrize("lab", sorted(HANDOUTS), ids=lambda n: f"lab{n:02d}")
def test_compose_commands_name_their_lab_project(lab):
    """No hidden COMPOSE_PROJECT_NAME: every `docker compose` command a lab shows names its project."""
    text = HANDOUTS[lab].read_text()
    blocks = [m["body"] for m in walk.FENCE.finditer(text) if m["info"].split()[:1] in (["bash"], ["console"])]
    commands = [m.group(0) for body in blocks for m in re.finditer(r"docker compose(?! version)\b[^\n]*", body)]
    wrong = [c for c in commands if not c.startswith(f"docker compose -p lab{lab:02d} ")]
    assert not wrong, f"labs/{HANDOUTS[lab].name}: name the project, `docker compose -p lab{lab:02d} ...`:\n" + "\n".join(wrong)
    setup = walk.cells(HANDOUTS[lab])[0].source
    assert set(re.findall(r"os\.environ\[\"(\w+)\"\] =", setup)) <= {"PATH"}, "the setup cell sets hidden state"


def test_every_cell_after_the_setup_cell_is_a_shell_cell():
    for path in HANDOUTS.values():
        for cell in walk.cells(path)[1:]:
            assert cell.language == "bash", f"{cell.where}: write it as a ```bash cell (a terminal can paste it)"


def test_handout_steps(tmp_path):
    handout = tmp_path / "04-x.md"
    handout.write_text("\n".join([
        "# Lab", "", "```python", "# Setup", "# notebook-only; in a terminal, run instead: source .venv/bin/activate",
        "print(1)", "```", "", "## Build", "", "```bash", "# NBVAL_CHECK_OUTPUT", "echo hi", "```", "",
        "```output", "hi", "```", "", "## Exercise: write it", "", "```bash", "python -m grader --task 4 2>&1",
        "```", ""]))
    steps = walk.handout_steps(handout)
    setup, echo, exercise, grading = steps
    assert setup.notebook_only and setup.terminal == "source .venv/bin/activate" and setup.language == "python"
    assert (echo.language, echo.source, echo.expected, echo.section) == ("bash", "# NBVAL_CHECK_OUTPUT\necho hi", "hi\n", "Build")
    assert exercise == walk.Exercise(lab=4, title="Exercise: write it")
    assert grading.grading and not echo.grading and grading.number == 3


def test_terminal_env_drops_the_kits_state(tmp_path):
    env = walk.terminal_env({"HOME": "/home/s", "PATH": f"{tmp_path}/.venv/bin:/usr/bin:/bin",
                             "VIRTUAL_ENV": f"{tmp_path}/.venv", "COMPOSE_PROJECT_NAME": "lab06",
                             "API_IMAGE": "x", "LAB_ROOT": "/tmp/x", "DOCKER_HOST": "unix:///d.sock"})
    assert env["PATH"] == "/usr/bin:/bin" and env["HOME"] == "/home/s" and env["DOCKER_HOST"] == "unix:///d.sock"
    assert not {"VIRTUAL_ENV", "COMPOSE_PROJECT_NAME", "API_IMAGE", "LAB_ROOT"} & set(env)


# -- the session: one bash, as a terminal -------------------------------------------------------
@pytest.fixture
def session(tmp_path: Path):
    with walk.Session(cwd=tmp_path, env=walk.terminal_env()) as s:
        yield s


def test_a_session_keeps_state_across_cells(session):
    assert session.run("export GREETING=hello; cd /").status == 0
    ran = session.run('echo "$GREETING from $PWD"; echo oops >&2')
    assert (ran.stdout, ran.stderr, ran.status) == ("hello from /\n", "oops\n", 0)
    assert session.run("printf 'no newline'").stdout == "no newline"


def test_a_subshell_cell_fails_alone(session):
    ran = session.run("( set -euo pipefail\nfalse\necho never\n)")
    assert ran.status == 1 and ran.stdout == ""
    assert session.run("echo still here").stdout == "still here\n"


def test_set_e_at_the_top_level_ends_the_session_as_it_would_close_a_terminal(session):
    session.run("set -e")
    with pytest.raises(walk.WalkError, match="session ended"):
        session.run("false\necho after")


def test_history_expansion_as_in_an_interactive_terminal(session):
    cell = walk.Cell(lab=1, number=2, language="bash", source='echo "a!b"', expected=None, section="s",
                     notebook_only=False, terminal=None)
    ran = session.run(cell.source)
    assert ran.stdout == "" and "event not found" in ran.stderr
    assert walk.judge(cell, ran, []).outcome == "failed"
    assert session.run("echo 'a!b'").stdout == "a!b\n"


def test_a_cell_that_waits_for_the_keyboard_times_out(session):
    with pytest.raises(walk.WalkError, match="longer than 1 s"):
        session.run("read -r line", timeout=1)


def test_judge_compares_after_sanitizing():
    patterns = walk.sanitize_patterns()
    cell = walk.Cell(lab=2, number=5, language="bash", source="x", expected="image <ID>, 12 s\n", section="s",
                     notebook_only=False, terminal=None)
    assert walk.judge(cell, walk.Ran("image 3f2a1bc4d5e6, 3 s\n", "", 0, 1.0), patterns).outcome == "passed"
    assert walk.judge(cell, walk.Ran("image 3f2a1bc4d5e6\n", "", 0, 1.0), patterns).outcome == "failed"
    assert "stderr" in walk.judge(cell, walk.Ran("image 3f2a1bc4d5e6, 3 s\n", "warn\n", 0, 1.0), patterns).reason
    assert "exit status 2" in walk.judge(cell, walk.Ran("", "", 2, 1.0), patterns).reason
