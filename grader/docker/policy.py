"""What the grader refuses to build or start: the rules of policy.yaml applied to a compose project.

The rules are data (`policy.yaml` beside this module: one rule per line with its reason, built from
the Compose specification's key list). Two passes, both before anything is built or started:

- `preflight` reads the submission's compose file and every file it includes or extends as plain
  YAML, BEFORE `docker compose config` runs, because compose itself reads env files, label files,
  included and extended files from wherever they point (scopes `file`, `file-service`);
- `violations` looks at the project as `docker compose config` normalised it (services, networks,
  volumes, secrets, configs).

Instructor mode refuses every violation; student mode refuses the rules marked `student: refuse`
and any path into the host's system directories, and only warns about the rest (`settle`).
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from grader.errors import ResourceError
from grader.options import parse_size
from grader.parse.shellwords import substitute

log = logging.getLogger(__name__)

RULES_FILE = Path(__file__).with_name("policy.yaml")
# Host paths no lab needs; a container mounting them could read or change the grading machine.
SENSITIVE_TREES = ("/proc", "/sys", "/etc", "/dev", "/boot", "/run", "/var/run", "/var/lib/docker", "/root")
SCOPES = ("file", "file-service", "service", "network", "volume", "secret", "config")
REMOTE = re.compile(r"^([a-z][a-z0-9+.-]*://|git@|github\.com/)", re.IGNORECASE)
MAX_COMPOSE_BYTES = 1_000_000     # a compose file larger than this is not read (nor graded)
MAX_COMPOSE_FILES = 50            # include/extends chains followed at most this far
PATH_KEYS = ("path", "file", "env_file", "project_directory")


@dataclass(frozen=True)
class Rule:
    """One line of policy.yaml: where it looks, the key, the test (with its argument), what student
    mode does (`refuse` or `warn`) and the reason the report gives."""

    id: str
    scope: str
    key: str
    test: str
    reason: str
    student: str = "warn"
    arg: object = None


@dataclass(frozen=True)
class Violation:
    """A rule a compose project breaks: `where` ("service api", "network net", "compose file"),
    the compose `key`, the `value` it asks for, the `reason`, the `file` (relative to the
    submission) and whether it is `refused` (else a warning)."""

    where: str
    key: str
    value: str
    reason: str
    file: str = ""
    rule: str = ""
    refused: bool = True

    def __str__(self) -> str:
        head = f"{self.file}: " if self.file else ""
        return f"{head}{self.where}: `{self.key}: {self.value}` ({self.reason})"


@functools.lru_cache(maxsize=1)
def rules() -> tuple[Rule, ...]:
    """The rules of policy.yaml; ValueError names a malformed line (a test keeps it well formed)."""
    raw = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))["rules"]
    found = []
    for item in raw:
        rule = Rule(**item)
        if rule.scope not in SCOPES or rule.test not in TESTS or rule.student not in ("refuse", "warn"):
            raise ValueError(f"policy.yaml: rule {rule.id}: bad scope, test or student value")
        found.append(rule)
    return tuple(found)


# -- paths ---------------------------------------------------------------------------------------
def _inside(path: str, root: Path) -> bool:
    try:
        Path(path).relative_to(root)
        return True
    except ValueError:
        return False


def host_path(source: str, *, workspace: Path, base: Path | None = None) -> tuple[str, bool] | None:
    """(why, sensitive) when `source` (absolute, or relative to `base`) resolves outside the
    submission, else None. Symlinks are followed. `sensitive` marks the host's root, a socket or
    a system directory (SENSITIVE_TREES): refused in every mode."""
    source = os.path.expanduser(str(source))
    path = os.path.join(str(base or workspace), source)
    resolved = os.path.realpath(path)
    root = Path(os.path.realpath(workspace))
    if _inside(resolved, root):
        return None  # the scratch copy, wherever the grader put it
    for candidate in dict.fromkeys((os.path.normpath(path), resolved)):
        posix = PurePosixPath(candidate)
        if str(posix) == "/":
            return "the host's root filesystem", True
        if posix.name.endswith(".sock"):
            return "a socket on the host (the Docker socket gives full control of the host)", True
        for tree in SENSITIVE_TREES:
            if posix == PurePosixPath(tree) or PurePosixPath(tree) in posix.parents:
                return f"{tree} belongs to the host", True
    return "outside the submission", False


def path_problem(source: str, *, workspace: Path, instructor: bool) -> str | None:
    """Why a host path must not be mounted in this mode, or None (kept for callers of the old API)."""
    found = host_path(source, workspace=workspace)
    if found is None:
        return None
    why, sensitive = found
    if sensitive:
        return why
    return "outside the submission: instructor mode mounts only files inside it" if instructor else None


def _paths(value) -> list[str]:
    """Path strings in a compose value: a string, each of a list, `path`/`file`/... of a mapping."""
    if value is None or isinstance(value, bool):
        return []
    if isinstance(value, (str, int, float)):
        return [str(value)]
    if isinstance(value, list):
        return [p for item in value for p in _paths(item)]
    if isinstance(value, dict):
        return [p for key in PATH_KEYS for p in _paths(value.get(key))]
    return []


# -- tests: (value, arg, checking) -> [(shown value, detail or None, sensitive)] --------------------
@dataclass(frozen=True)
class Checking:
    """What a test needs besides the value: the submission, the directory relative paths start
    from, and the variables compose interpolates with (raw files only)."""

    workspace: Path
    base: Path
    variables: dict | None = None


Finding = tuple[str, "str | None", bool]


def _show(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        for key in ("source", "path", "file"):
            if value.get(key):
                return str(value[key])
        return ", ".join(f"{k}={_show(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value)
    return str(value)


def _truthy(value) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


def _cap(value) -> str:
    return str(value).strip().upper().removeprefix("CAP_")


class _Unset(dict):
    """Variables as compose interpolates them: an unset `${VAR}` is the empty string."""

    def get(self, key, default=None):
        return super().get(key, "")


def _outside(value, arg, checking: Checking) -> list[Finding]:
    found = []
    for text in _paths(value):
        path = substitute(text, _Unset(checking.variables)) if checking.variables is not None else text
        if REMOTE.match(path):
            continue  # the `remote` rules name these
        problem = host_path(path, workspace=checking.workspace, base=checking.base)
        if problem:
            found.append((text, problem[0] if problem[1] else None, problem[1]))
    return found


def _bind_outside(value, arg, checking: Checking) -> list[Finding]:
    if not isinstance(value, dict) or value.get("type") != "bind" or not value.get("source"):
        return []
    problem = host_path(str(value["source"]), workspace=checking.workspace, base=checking.base)
    if not problem:
        return []
    return [(f"{value['source']}:{value.get('target', '')}", problem[0] if problem[1] else None, problem[1])]


def _remote(value, arg, checking: Checking) -> list[Finding]:
    return [(p, None, False) for p in _paths(value) if REMOTE.match(p)]


def _size(value) -> int | None:
    try:
        return parse_size(value)
    except ValueError:
        return None


def _tmpfs_above(value, arg, checking: Checking) -> list[Finding]:
    """`tmpfs: /run:size=10g,mode=1777`: its size= option above `arg`."""
    options = str(value).partition(":")[2]
    for option in options.split(","):
        name, _, size = option.partition("=")
        if name.strip() == "size" and (_size(size) or 0) > parse_size(arg):
            return [(str(value), None, False)]
    return []


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


TESTS: dict[str, Callable[..., list[Finding]]] = {
    # set: the key is there with any value but an empty one
    "set": lambda v, a, c: [(_show(v), None, False)] if v not in (None, False, "", [], {}) else [],
    # true: a boolean that is true (or "true")
    "true": lambda v, a, c: [("true", None, False)] if _truthy(v) else [],
    # shares: `host`, or `container:NAME` (a container outside this project)
    "shares": lambda v, a, c: [(str(v), None, False)] if str(v) == "host" or str(v).startswith("container:") else [],
    # outside: a path (string, list, or path/file of a mapping) that resolves outside the submission
    "outside": _outside,
    # bind-outside: a bind mount (volumes item) whose source resolves outside the submission
    "bind-outside": _bind_outside,
    # remote: a URL, git@ or github.com/ source
    "remote": _remote,
    # in / not-in: the value (capabilities upper case, without CAP_) is / is not one of `arg`
    "in": lambda v, a, c: [(_cap(v) if _cap(v) in a else str(v), None, False)]
    if (_cap(v) in a or str(v) in a) else [],
    "not-in": lambda v, a, c: [] if (_cap(v) in a or str(v) in a) else [(_cap(v) if str(v).upper() == str(v) else str(v), None, False)],
    # prefix / contains: the value starts with / contains `arg`
    "prefix": lambda v, a, c: [(str(v), None, False)] if str(v).startswith(a) else [],
    "contains": lambda v, a, c: [(str(v), None, False)] if a in str(v) else [],
    # above / below: a number greater / smaller than `arg`
    "above": lambda v, a, c: [(str(v), None, False)] if (_number(v) or 0) > a else [],
    "below": lambda v, a, c: [(str(v), None, False)] if (_number(v) or 0) < a else [],
    # size-above: a Docker size larger than `arg` ("512m"); tmpfs-above: the size= of a tmpfs entry
    "size-above": lambda v, a, c: [(str(v), None, False)] if (_size(v) or 0) > parse_size(a) else [],
    "tmpfs-above": _tmpfs_above,
}


def lookup(entry, key: str) -> list:
    """Values at `key` in a mapping: `a.b` nested keys, `a[]` each item of a list (or each value of
    a mapping, or the string itself)."""
    values = [entry]
    for part in key.split("."):
        each = part.endswith("[]")
        name = part.removesuffix("[]")
        nxt = []
        for value in values:
            if not isinstance(value, dict) or value.get(name) is None:
                continue
            found = value[name]
            if each:
                nxt += list(found.values()) if isinstance(found, dict) else found if isinstance(found, list) else [found]
            else:
                nxt.append(found)
        values = nxt
    return values


def _apply(rule: Rule, entry, *, where: str, file: str, checking: Checking, instructor: bool) -> list[Violation]:
    found = []
    shown_key = rule.key.replace("[]", "")
    for value in lookup(entry, rule.key):
        for shown, detail, sensitive in TESTS[rule.test](value, rule.arg, checking):
            refused = instructor or rule.student == "refuse" or sensitive
            found.append(Violation(where=where, key=shown_key, value=shown, reason=detail or rule.reason,
                                   file=file, rule=rule.id, refused=refused))
    return found


def _unique(found: list[Violation]) -> list[Violation]:
    """One violation per (file, where, key, value): the refusing one when rules overlap."""
    kept: dict[tuple, Violation] = {}
    for v in found:
        key = (v.file, v.where, v.key, v.value)
        if key not in kept or (v.refused and not kept[key].refused):
            kept[key] = v
    return list(kept.values())


# -- the raw files (before `docker compose config`) --------------------------------------------------
def _read_yaml(path: Path) -> dict | None:
    try:
        if not path.is_file() or path.stat().st_size > MAX_COMPOSE_BYTES:
            return None
        data = yaml.safe_load(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, yaml.YAMLError, RecursionError):
        return None  # `docker compose config` reports what is wrong with it
    return data if isinstance(data, dict) else None


def dotenv(workspace: Path) -> dict[str, str]:
    """KEY=VALUE lines of the submission's `.env`, as compose reads them for interpolation."""
    path = workspace / ".env"
    found: dict[str, str] = {}
    data = None
    try:
        if path.is_file() and path.stat().st_size <= MAX_COMPOSE_BYTES:
            data = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        pass
    for line in (data or "").splitlines():
        key, eq, value = line.strip().removeprefix("export ").partition("=")
        if eq and key and not key.startswith("#"):
            found[key.strip()] = value.strip().strip("'\"")
    return found


def raw_files(workspace: Path, file: Path, *, variables: dict | None = None) -> list[tuple[Path, dict]]:
    """The compose file and every file inside the submission it includes or extends (as YAML)."""
    root = Path(os.path.realpath(workspace))
    todo, seen, found = [file], set(), []
    while todo and len(found) < MAX_COMPOSE_FILES:
        path = todo.pop(0)
        real = os.path.realpath(path)
        if real in seen or not _inside(real, root):
            continue
        seen.add(real)
        data = _read_yaml(Path(real))
        if data is None:
            continue
        found.append((path, data))
        refs = [p for item in lookup(data, "include[]") for p in _paths(item if isinstance(item, str) else
                                                                       (item or {}).get("path"))]
        refs += [p for svc in (data.get("services") or {}).values() if isinstance(svc, dict)
                 for p in _paths(lookup(svc, "extends.file"))]
        for ref in refs:
            text = substitute(ref, _Unset(variables or {}))
            if not REMOTE.match(text):
                todo.append(Path(os.path.join(os.path.dirname(real), text)))
    return found


def _relative(path: Path, workspace: Path) -> str:
    try:
        return str(Path(os.path.realpath(path)).relative_to(os.path.realpath(workspace)))
    except ValueError:
        return str(path)


def preflight(workspace: Path, file: Path, *, instructor: bool, variables: dict | None = None) -> list[Violation]:
    """Violations of the `file` and `file-service` rules in the compose file and what it includes
    or extends, read as YAML before compose reads anything; `variables` interpolate `${VAR}`."""
    variables = {**dotenv(workspace), **(variables or {})}
    found = []
    for path, data in raw_files(workspace, file, variables=variables):
        name = _relative(path, workspace)
        checking = Checking(workspace=workspace, base=Path(os.path.realpath(path)).parent, variables=variables)
        for rule in rules():
            if rule.scope == "file":
                found += _apply(rule, data, where="compose file", file=name, checking=checking, instructor=instructor)
            elif rule.scope == "file-service":
                for svc_name, svc in sorted((data.get("services") or {}).items()):
                    if isinstance(svc, dict):
                        found += _apply(rule, svc, where=f"service {svc_name}", file=name, checking=checking,
                                        instructor=instructor)
    return _unique(found)


# -- the normalised project ------------------------------------------------------------------------
def _origin(model, service: str, key: str) -> str:
    """The file (relative to the submission) where a service's key is written, else the main file."""
    top = key.split(".")[0].split("[")[0]
    try:
        files = raw_files(model.workspace, model.file)
    except OSError:
        files = []
    for path, data in files:
        svc = (data.get("services") or {}).get(service)
        if isinstance(svc, dict) and top in svc:
            return _relative(path, model.workspace)
    return _relative(model.file, model.workspace)


def service_violations(model, name: str, *, instructor: bool) -> list[Violation]:
    """Violations of the `service` rules by one service of a ComposeModel (normalised)."""
    svc = model.service(name)
    workspace = Path(model.workspace)
    found = []
    for rule in rules():
        if rule.scope != "service":
            continue
        base = workspace
        if rule.key == "build.dockerfile" and isinstance(svc.get("build"), dict):
            base = Path(os.path.join(workspace, str(svc["build"].get("context") or ".")))  # relative to the context
        checking = Checking(workspace=workspace, base=base)
        found += _apply(rule, svc, where=f"service {name}", file="", checking=checking, instructor=instructor)
    return [Violation(**{**v.__dict__, "file": _origin(model, name, v.key)}) for v in _unique(found)]


def violations(model, *, instructor: bool = False) -> list[Violation]:
    """Every rule the normalised project (a ComposeModel) breaks, services first, in file order.

    Each Violation says whether it is refused in this mode (else student mode warns)."""
    found = []
    for name in model.active_services():
        found += service_violations(model, name, instructor=instructor)
    workspace = Path(model.workspace)
    checking = Checking(workspace=workspace, base=workspace)
    main = _relative(model.file, workspace)
    tables = {"network": model.networks_declared, "volume": model.volumes_declared,
              "secret": model.data.get("secrets") or {}, "config": model.data.get("configs") or {}}
    for scope, declared in tables.items():
        for key, spec in sorted(declared.items()):
            for rule in (r for r in rules() if r.scope == scope):
                found += _apply(rule, spec or {}, where=f"{scope} {key}", file=main, checking=checking,
                                instructor=instructor)
    return _unique(found)


EXPECTED = ("a compose project that reads nothing outside the submission and asks for no host access "
            "(privileged mode, host namespaces, devices, extra capabilities, the Docker socket, host paths)")


def settle(found: list[Violation], *, what: str, blame: str | None = None,
           warn: Callable[[str], None] | None = None) -> None:
    """Raise ResourceError naming every refused violation (file, key, reason); pass the others
    to `warn` (student mode: a note in the report). `what` completes "the grader will not ...".
    """
    refused = [v for v in found if v.refused]
    for v in found:
        if not v.refused and warn is not None:
            warn(f"{v}: allowed in student mode, refused with --instructor")
    if refused:
        listed = "; ".join(str(v) for v in refused)
        raise ResourceError(f"the grader will not {what}: {listed}", blame=blame, expected=EXPECTED,
                            details="\n".join(str(v) for v in refused))


def enforce(model, *, instructor: bool = False, blame: str | None = None,
            warn: Callable[[str], None] | None = None) -> None:
    """ResourceError naming every refused violation of the normalised project; the stack is never
    built or started with one. Warnings (student mode) go to `warn`."""
    settle(violations(model, instructor=instructor), what="start this stack", blame=blame, warn=warn)
