"""Docker for MLOps grader: scores lab tasks from real images, containers, networks and logs."""

__version__ = "1.0.0"
