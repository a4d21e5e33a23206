"""Structured logging: every line is one JSON object, on stdout and optionally in LOG_DIR/api.log."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

logger = logging.getLogger(__name__)

LOG_FILENAME = "api.log"
# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: ts, level, logger, event, pid, then the `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, tz=timezone.utc)
        line = {
            "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
            "pid": record.process,
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at the time of the record (pytest and gunicorn swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:
        pass


class AppendFileHandler(logging.Handler):
    """Appends each line with a single os.write on an O_APPEND file, so workers never interleave."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            os.write(self._fd, (self.format(record) + "\n").encode("utf-8"))
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        super().close()


def setup_logging(*, level: str = "INFO", log_dir: Path | None = None) -> None:
    """Send all loggers' records to stdout (and LOG_DIR/api.log) as JSON; safe to call again."""
    root = logging.getLogger()
    # Replace only the handlers we added earlier: pytest's and gunicorn's must stay.
    for handler in [h for h in root.handlers if getattr(h, "_churn", False)]:
        root.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = [StdoutHandler()]
    file_problem = None
    if log_dir is not None:
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            handlers.append(AppendFileHandler(log_dir / LOG_FILENAME))
        except OSError as exc:
            # In containers a bind-mounted dir is often owned by root while we run as a normal user.
            file_problem = f"{type(exc).__name__}: {exc}"
    formatter = JsonFormatter()
    for handler in handlers:
        handler.setFormatter(formatter)
        handler._churn = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    if file_problem:
        logger.warning("log_dir_unwritable", extra={"log_dir": str(log_dir), "error": file_problem})
