"""Task 4: structured request logs on stdout, unbuffered Python, and a log file on a bind mount."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from grader import wait
from grader.errors import ResourceError
from grader.registry import check
from grader.results import fail, ok

log = logging.getLogger(__name__)

# Accepted spellings in order of preference, compared after lower-casing and dropping "_" and "-".
FIELDS = {
    "request_id": ("requestid", "reqid", "xrequestid", "correlationid"),
    "method": ("method", "httpmethod", "requestmethod", "verb"),
    "path": ("path", "urlpath", "requestpath", "route", "url", "uri", "endpoint"),
    "status": ("status", "statuscode", "httpstatus", "responsestatus", "code"),
}
WAIT_S = 5
MAX_FILE_BYTES = 5_000_000


def _norm(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


def _flat(record: dict) -> dict[str, object]:
    """Top-level keys, then keys of nested objects ({"http": {"method": ..}} counts as method)."""
    found = {_norm(k): v for k, v in record.items()}
    for value in record.values():
        if isinstance(value, dict):
            for key, inner in value.items():
                found.setdefault(_norm(key), inner)
    return found


def field(record: dict, name: str):
    flat = _flat(record)
    return next((flat[k] for k in FIELDS[name] if k in flat), None)


def python_unbuffered(argv: list[str]) -> bool:
    """`python -u ...` (also -Bu, -B -u): options before the script, -m or -c."""
    if not argv or not os.path.basename(argv[0]).startswith("python"):
        return False
    for arg in argv[1:]:
        if not arg.startswith("-") or arg.startswith("--") or arg in ("-m", "-c"):
            return False
        if "u" in arg[1:]:
            return True
    return False


@check("4.unbuffered", phase="static")
def unbuffered(mlapp_dockerfile):
    model = mlapp_dockerfile
    value = model.env.get("PYTHONUNBUFFERED")
    if value not in (None, "", "0"):
        lines = [i.line for s in reversed(model.lineage()) for i in s.all("ENV") if "PYTHONUNBUFFERED" in i.value]
        where = f" (line {lines[-1]})" if lines else ""
        return ok(f"ENV PYTHONUNBUFFERED={value}{where}")
    for keyword in ("ENTRYPOINT", "CMD"):
        ins = model.effective(keyword)
        argv = (ins.exec_argv() or ins.body.split()) if ins else []
        if python_unbuffered(argv):
            return ok(f"{keyword} runs `python -u` (line {ins.line})")
    found = f"PYTHONUNBUFFERED={value!r}" if value is not None else "no PYTHONUNBUFFERED in the final stage"
    return fail("Python's output is buffered in the API image",
                expected="`ENV PYTHONUNBUFFERED=1` (non-empty, not 0) or `python -u` in CMD",
                found=found)


def matching_lines(text: str, request_id: str) -> tuple[list[dict], list[str]]:
    """(JSON records whose request id is `request_id`, other lines mentioning it)."""
    records, others = [], []
    for line in text.splitlines():
        if request_id not in line:
            continue
        start = line.find("{")
        try:
            record = json.loads(line[start:]) if start >= 0 else None
        except ValueError:
            record = None
        if isinstance(record, dict) and field(record, "request_id") == request_id:
            records.append(record)
        else:
            others.append(line.strip())
    return records, others


def judge(records: list[dict], others: list[str], *, request_id: str, tail: str):
    """The outcome for the log lines that mention one request."""
    expected = f"one JSON line with request_id={request_id}, method, path and status"
    for record in records:
        missing = [f for f in ("method", "path", "status") if field(record, f) is None]
        if not missing:
            return ok(f"one JSON line per request: method={field(record, 'method')}, "
                      f"path={field(record, 'path')}, status={field(record, 'status')}, request_id={request_id}")
    if records:
        missing = [f for f in ("method", "path", "status") if field(records[0], f) is None]
        return fail(f"the request's JSON line lacks {', '.join(missing)}", expected=expected,
                    found=json.dumps(records[0])[:400], partial="missing-fields")
    if others:
        return fail("the request id appears, but not in a JSON object with a request_id field",
                    expected=expected, found=others[0][:400])
    return fail(f"no log line carries the request id {request_id}", expected=expected,
                found=f"last log lines: {tail.splitlines()[-1][:300] if tail.strip() else '(no output at all)'}",
                details=tail or None)


@check("4.structured-log", phase="inspect")
def structured_log(ctx, mlapp_api):
    api = mlapp_api
    request_id = f"grader-{ctx.run_id}-1"
    answer = api.http("/health", headers={"X-Request-ID": request_id}, timeout=10)
    if answer.get("status") is None:
        return fail("GET /health did not answer", expected="an answer to GET /health",
                    found=answer.get("error", "no answer"))
    def read() -> tuple[str, list[dict], list[str]]:
        text = api.logs()
        return (text, *matching_lines(text, request_id))

    text, records, others = wait.poll(read, timeout=WAIT_S, until=lambda found: found[1])
    tail = "\n".join(text.splitlines()[-15:])
    return judge(records, others, request_id=request_id, tail=tail)


def files_containing(directory: Path, needle: str) -> list[tuple[Path, str]]:
    hits = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        try:
            with open(path, "rb") as fh:
                fh.seek(max(path.stat().st_size - MAX_FILE_BYTES, 0))
                data = fh.read().decode("utf-8", "replace")
        except OSError:
            continue
        line = next((ln for ln in data.splitlines() if needle in ln), None)
        if line is not None:
            hits.append((path, line))
    return hits


def listing(directories: list[Path], root: Path) -> str:
    files = [f"{p.relative_to(root)} ({p.stat().st_size} bytes)" for d in directories if d.is_dir()
             for p in sorted(d.rglob("*")) if p.is_file()]
    return ", ".join(files[:10]) or "no files"


def _written(ctx, api, directories: list[Path], request_id: str) -> tuple[dict | str, list]:
    """Send one request with `request_id`; (the answer or the error text, files under `directories`
    holding its log line)."""
    answer = api.http("/health", headers={"X-Request-ID": request_id})
    if answer.get("status") is None:
        return answer.get("error", "no answer"), []
    hits = wait.poll(lambda: [hit for d in directories if d.is_dir() for hit in files_containing(d, request_id)],
                     timeout=WAIT_S)
    return answer, hits


def _log_warnings(api) -> str | None:
    lines = [line for line in api.logs(tail=200).splitlines()
             if "log_dir" in line.lower() or "permission denied" in line.lower()]
    return "\n".join(lines[-5:]) or None


def log_file_standalone(ctx, api):
    """4.log-file as Lab 4 runs the API: the grader's own writable folder bind-mounted at LOG_DIR."""
    mount = next((m for m in api.container.attrs.get("Mounts") or [] if m.get("Type") == "bind"), None)
    if mount is None:
        raise ResourceError("the API container has no bind mount although the grader started it with one")
    request_id = f"grader-{ctx.run_id}-logfile"
    answer, hits = _written(ctx, api.reload(), [Path(mount["Source"])], request_id)
    if isinstance(answer, str):
        return fail("GET /health did not answer", expected="an answer to GET /health", found=answer)
    if hits:
        path, _ = hits[0]
        return ok(f"run as Lab 4 runs it (a writable folder bind-mounted at {mount['Destination']}), the request "
                  f"{request_id} landed in {path.name} on the host")
    log_dir = api.env().get("LOG_DIR")
    return fail("the request's log line did not reach the bind-mounted folder",
                expected=f"a file under the folder bind-mounted at {mount['Destination']} (LOG_DIR) containing "
                         f"{request_id}",
                found=f"LOG_DIR={log_dir or '(unset)'}; in the folder: {listing([Path(mount['Source'])], Path(mount['Source']))}",
                details=_log_warnings(api))


def log_file_stack(ctx, stack):
    """4.log-file in the compose stack: the API service's own bind mount, as a fresh clone has it
    (a folder the labs do not have you create is made by Docker, owned by root)."""
    model = stack.model
    binds = [m for m in model.mounts(model.mlapp) if m.type == "bind" and m.source]
    if not binds:
        return fail(f"the API service `{model.mlapp}` has no bind mount",
                    expected="a host directory bind-mounted into the API service", found="no bind mounts")
    request_id = f"grader-{ctx.run_id}-logfile"
    api = stack.service("mlapp")
    answer, hits = _written(ctx, api, [Path(m.source) for m in binds], request_id)
    if isinstance(answer, str):
        return fail("GET /health did not answer", expected="an answer to GET /health", found=answer)
    root = model.workspace
    if hits:
        path, _ = hits[0]
        return ok(f"the request {request_id} is in {path.relative_to(root)} on the host")
    log_dir = model.image_env(model.mlapp).get("LOG_DIR")
    shown = {m: f"./{Path(m.source).relative_to(root)}" if Path(m.source).is_relative_to(root) else m.source
             for m in binds}
    mounts = ", ".join(f"{shown[m]}:{m.target}" for m in binds)
    made = [shown[m] for m in binds if shown[m].removeprefix("./") in stack.created_by_docker]
    found = f"LOG_DIR={log_dir or '(unset)'}; on the host: {listing([Path(m.source) for m in binds], root)}"
    if made:
        found = (f"{', '.join(made)} does not exist in a fresh clone, so Docker created it, owned by root: the API's "
                 f"non-root user cannot write there (bind-mount ./logs, the folder Lab 4 has you make writable with "
                 f"`mkdir -p logs && chmod a+w logs`); " + found)
    return fail("the request's log line did not reach the bind-mounted directory",
                expected=f"a file under the bind mount ({mounts}) containing {request_id}", found=found,
                details=_log_warnings(api))


@check("4.log-file", phase="inspect")
def log_file(ctx, stack=None, mlapp_api=None):
    """The compose stack's API service once docker-compose.yml has one (and the stack came up), else the
    API image run as Lab 4 runs it: each lab's check is passable when that lab ends (issue 10)."""
    if stack is not None and "mlapp" in stack.roles:
        return log_file_stack(ctx, stack)
    if mlapp_api is None:
        raise ctx.failure("mlapp_api") or ResourceError("the API container does not answer", blame="2.api-answers")
    return log_file_standalone(ctx, mlapp_api)
