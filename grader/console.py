"""The terminal side of every command: logging to stderr at the verbosity asked for."""

from __future__ import annotations

import logging
import sys


class _StderrHandler(logging.Handler):
    """Looks sys.stderr up on every record so rich's live display can redirect it."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(self.format(record) + "\n")


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
