"""JSON logging: line shape, stdout and LOG_DIR output, and an unwritable LOG_DIR."""

import json
import logging
import multiprocessing
import sys

from churn.logs import LOG_FILENAME, AppendFileHandler, JsonFormatter, setup_logging

logger = logging.getLogger("churn.tests")


def test_formatter_writes_one_json_object_with_extras():
    record = logging.makeLogRecord({"name": "churn.x", "levelname": "INFO", "msg": "request %s",
                                    "args": ("done",), "created": 0.0, "status": 200})
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line) == {"ts": "1970-01-01T00:00:00.000Z", "level": "INFO",
                                "logger": "churn.x", "event": "request done",
                                "pid": record.process, "status": 200}


def test_exceptions_become_a_traceback_field_on_the_same_line():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord("churn.x", logging.ERROR, __file__, 1, "failed", (),
                                   sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert "RuntimeError: boom" in json.loads(line)["traceback"]


def test_stdout_and_log_dir_get_the_same_lines(tmp_path, capsys, json_lines):
    setup_logging(level="INFO", log_dir=tmp_path / "logs")
    logger.info("hello", extra={"request_id": "abc"})
    logger.debug("hidden")
    stdout = json_lines(capsys.readouterr().out)
    in_file = json_lines((tmp_path / "logs" / LOG_FILENAME).read_text())
    assert stdout == in_file
    assert [(line["event"], line["request_id"]) for line in stdout] == [("hello", "abc")]


def test_setting_up_twice_does_not_duplicate_lines(capsys, json_lines):
    setup_logging(level="DEBUG")
    setup_logging(level="DEBUG")
    logger.debug("once")
    assert [line["event"] for line in json_lines(capsys.readouterr().out)] == ["once"]


def test_unwritable_log_dir_warns_once_and_keeps_stdout(tmp_path, capsys, json_lines):
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a file where a directory should be: fails even for root
    setup_logging(level="INFO", log_dir=blocker / "logs")
    logger.info("still here")
    lines = json_lines(capsys.readouterr().out)
    assert [line["event"] for line in lines] == ["log_dir_unwritable", "still here"]
    assert lines[0]["level"] == "WARNING" and lines[0]["log_dir"] == str(blocker / "logs")


def _write_lines(path, tag):
    handler = AppendFileHandler(path)
    handler.setFormatter(JsonFormatter())
    for i in range(300):
        handler.emit(logging.makeLogRecord({"msg": "x" * 2000, "tag": tag, "i": i}))
    handler.close()


def test_processes_appending_to_one_file_never_interleave(tmp_path, json_lines):
    path = tmp_path / LOG_FILENAME
    workers = [multiprocessing.get_context("fork").Process(target=_write_lines, args=(path, t))
               for t in ("a", "b", "c")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    lines = json_lines(path.read_text())  # raises if any line is broken
    assert len(lines) == 900
    assert {line["tag"] for line in lines} == {"a", "b", "c"}
