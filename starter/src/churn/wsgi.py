"""WSGI entry point: `gunicorn --config python:churn.gunicorn_conf churn.wsgi:app`."""

from churn.app import create_app

app = create_app()
