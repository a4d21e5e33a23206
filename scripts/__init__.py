"""Maintenance scripts for the kit (run as modules, e.g. `python -m scripts.notebooks sync`)."""
