"""Names every layer shares: labels, name prefixes, the deliverables' file names (a leaf module, as
docker-py's `docker/constants.py`: it imports nothing of the grader)."""

from __future__ import annotations

# Every container, network, volume and image a grading run creates carries both labels; the run
# label is what `python -m grader cleanup --run ID` removes (developers' guide: "every resource the
# grader creates carries a label naming its run").
LABEL_GRADER = "org.mlops-kit.grader"
LABEL_RUN = "org.mlops-kit.grader.run"
RUN_ID_PATTERN = r"[0-9a-f]{6,32}"   # a run id given on a command line (the report schema's pattern)
NAME_PREFIX = "mlops-grader"     # names are <prefix>-<run id>-<suffix>; scratch dirs too
# The build cache the grader keeps between runs (grader.docker.build.keep_as_cache): the last image
# of each stage it built, tagged <repository>:<image id>, trimmed to --keep-storage.
CACHE_REPOSITORY = "mlops-grader-cache"
# Images the grader builds for itself and keeps between runs (the test runner of task 10) carry
# LABEL_GRADER and LABEL_TOOL=<tool>, never a run label: no run's cleanup removes them.
LABEL_TOOL = "org.mlops-kit.grader.tool"

# The student's deliverables at the repository root, and where Compose looks for its file.
API_DOCKERFILE = "Dockerfile.mlapp"
MLFLOW_DOCKERFILE = "Dockerfile.mlflow"
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.yaml", "compose.yaml", "compose.yml")
DELIVERABLES = (API_DOCKERFILE, MLFLOW_DOCKERFILE, "docker-compose.yml", ".dockerignore")

# The two roles a submission's services play, found by the Dockerfile they build.
ROLES = {"mlapp": API_DOCKERFILE, "mlflow": MLFLOW_DOCKERFILE}

# The environment the grader adds to every MLflow container it starts (standalone and in the stack).
# MLflow 3 servers start a job runner by default: a supervisor and seven Huey consumers (8 more
# processes that import MLflow again; 100 PIDs with their threads), 1.3 GB more and some 15
# CPU-seconds per start, for GenAI jobs (online scoring, trace archival) no lab uses. Measured on
# mlflow 3.17.2 with `docker stats`: with it off, the server settles at 7 PIDs and 360-410 MB; a
# full grade starts MLflow four times (issue 13). Source: `mlflow/environment_variables.py`,
# MLFLOW_SERVER_ENABLE_JOB_EXECUTION, default true.
MLFLOW_SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}

# The environment the grader adds to the API containers it starts itself (the standalone one of
# tasks 2 and 4, 8.push-pull's of the pulled image, and task 10's containers under test; the
# student's stack runs as their compose file says). WEB_CONCURRENCY is gunicorn's standard variable
# for its worker count, which the starter's gunicorn_conf reads (default 2): every worker imports
# scikit-learn and loads the model, 0.85
# CPU-seconds each (measured with the reference image, cgroup cpuacct.usage 12 s after `docker run`:
# 2.23 s with two workers, 1.39 s with one), and a grade starts the API a dozen times. One worker
# answers every probe and test the grader sends, one at a time (issue 13).
API_SERVER_ENV = {"WEB_CONCURRENCY": "1"}

NO_ENGINE = (
    "No Docker engine answers. Start Docker (Codespaces: it starts with the codespace; "
    "Linux: `sudo systemctl start docker` or `make setup`; macOS/Windows: start Docker Desktop), "
    "then run `python -m grader doctor`."
)
