"""Entry point of the grader's test runner: publish the API on localhost, run pytest, report as JSON.

Runs inside the test-runner container that grader/docker/sandbox.py starts without any network.
Like `docker run -p 5000:5000` in Lab 10, localhost:PUBLISH in this container reaches the API: each
connection is passed to a Unix socket that the grader connects to the container under test
(grader/docker/portforward.py), so tests written for Lab 10 (`http://localhost:5000`) run
unchanged. Then it runs pytest on tests/container (the student's tests, mounted read-only at /lab)
within a time limit, and prints one line: RESULT_MARK + {"exit_code", "timed_out",
"tests": [{"nodeid", "outcome", "message"}], "collect_errors": [...], "output": the last
OUTPUT_TAIL characters of pytest's output}.

Environment: MLOPS_API_SOCKET (the grader's socket to the API), MLOPS_PUBLISH (port, default 5000),
MLOPS_TIME_LIMIT (seconds for the whole run), MLOPS_TEST_TIMEOUT (seconds per test). Standard
library only.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading

RESULT_MARK = "MLOPS-GRADER-RESULT "
OUTPUT_TAIL = 16_000          # characters of pytest's output in the result
RESULTS_MAX = 2_000_000       # bytes of the per-test JSON lines read back
WORK = "/tmp/mlops-grader"


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _bridge(client: socket.socket, target: str) -> None:
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(target)
    except OSError:  # like docker-proxy: the connection is accepted, then closed
        client.close()
        upstream.close()
        return
    back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    back.start()
    _pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


def _serve(server: socket.socket, target: str) -> None:
    while True:
        try:
            client, _ = server.accept()
        except OSError:
            return
        threading.Thread(target=_bridge, args=(client, target), daemon=True).start()


def publish(port: int, target: str) -> list[socket.socket]:
    """Forward 127.0.0.1:port (and [::1]:port where IPv6 exists) to the Unix socket `target`, in
    background threads."""
    servers = []
    for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            server = socket.socket(family, socket.SOCK_STREAM)
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind((address, port))
            server.listen(64)
        except OSError:
            continue
        servers.append(server)
        threading.Thread(target=_serve, args=(server, target), daemon=True).start()
    return servers


def read_results(path: str) -> tuple[list[dict], list[dict]]:
    """(tests, collection errors) from the plugin's JSON lines; a test that started but never ended
    was cut off by the time limit."""
    tests: dict[str, dict] = {}
    errors: list[dict] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read(RESULTS_MAX).splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or not isinstance(record.get("nodeid"), str):
            continue
        event = record.get("event")
        entry = {"nodeid": record["nodeid"][:500], "outcome": str(record.get("outcome", "error"))[:20],
                 "message": str(record.get("message", ""))[:600]}
        if event == "start":
            tests.setdefault(entry["nodeid"], {**entry, "outcome": "timed-out",
                                               "message": "still running when the time limit was reached"})
        elif event == "end":
            tests[entry["nodeid"]] = entry
        elif event == "collect-error":
            errors.append(entry)
    return list(tests.values()), errors


def tail(path: str, chars: int = OUTPUT_TAIL) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(os.path.getsize(path) - chars * 2, 0))
            return fh.read().decode("utf-8", "replace")[-chars:]
    except OSError:
        return ""


def main() -> int:
    publish(int(os.environ.get("MLOPS_PUBLISH", "5000")), os.environ.get("MLOPS_API_SOCKET", "/run/mlops-grader/api.sock"))
    limit = float(os.environ.get("MLOPS_TIME_LIMIT", "120"))
    os.makedirs(WORK, exist_ok=True)
    results, output = os.path.join(WORK, "results.jsonl"), os.path.join(WORK, "output.txt")
    argv = [sys.executable, "-m", "pytest", "-c", "/opt/runner/pytest.ini", "--rootdir", "/lab",
            "-p", "container_tests_report", "--timeout", os.environ.get("MLOPS_TEST_TIMEOUT", "60"),
            "-q", "-rfE", "--tb=short", "--color=no", "tests/container"]
    timed_out, code = False, None
    with open(output, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd="/lab",
                                   env={**os.environ, "MLOPS_RESULTS": results}, start_new_session=True)
        try:
            code = process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    text = tail(output)
    tests, errors = read_results(results)
    sys.stdout.write(RESULT_MARK + json.dumps({"exit_code": code, "timed_out": timed_out, "tests": tests,
                                               "collect_errors": errors, "output": text}) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
