"""Gunicorn settings from the environment: `gunicorn --config python:churn.gunicorn_conf churn.wsgi:app`."""

from __future__ import annotations

import os

from churn.config import Config, env_int

# Parsing the whole Config here makes a bad variable (PORT=abc) stop gunicorn at once with one
# "Error: ..." line, instead of every worker crashing while it boots.
_config = Config.from_env()

bind = f"{_config.host}:{_config.port}"
workers = env_int(os.environ, "WEB_CONCURRENCY", 2, minimum=1)
timeout = 30
# No preload_app: each worker must build its own app, so each starts its own MLflow thread
# (threads do not survive the fork from a preloaded master).
loglevel = _config.log_level.lower()
accesslog = None  # the app writes its own JSON line per request (churn.app)

# Gunicorn >= 25 opens a control socket under $HOME by default; a non-root container user may have
# no writable home, and the socket is not needed to serve requests.
control_socket_disable = True

# Gunicorn's heartbeat file: on Docker's overlay filesystem it can stall workers; memory is safer.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# Gunicorn's own messages (booting, worker exits) as JSON lines on stdout too. The root logger is
# left without handlers here: each worker's create_app() installs the app's handlers on it.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "churn.logs.JsonFormatter"}},
    "handlers": {"stdout": {"class": "churn.logs.StdoutHandler", "formatter": "json"}},
    "root": {"level": _config.log_level, "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": _config.log_level, "handlers": ["stdout"], "propagate": False},
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
}
