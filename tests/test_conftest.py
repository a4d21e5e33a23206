"""tests/conftest.py's grouping under `pytest -n 2 --dist loadgroup` (make test's lane A), run for real
in a scratch directory: tests that share an expensive session fixture stay on one worker, so the
fixture (one full grade of the reference, in the suite) is made once (issue 13)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CONFTEST = '''
import pytest
from tests.conftest import pytest_collection_modifyitems, pytest_runtest_setup  # the suite's own hooks

@pytest.fixture(scope="session")
def costly():
    return 1
'''
TESTS = '''
import pytest

@pytest.mark.parametrize("i", range(6))
def test_shares_the_fixture(costly, i):
    pass

@pytest.mark.parametrize("i", range(6))
def test_alone(i):
    pass
'''


def test_tests_sharing_a_session_fixture_run_on_one_worker(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (tmp_path / "test_groups.py").write_text(TESTS, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}   # not this run's xdist worker
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v",
                           "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    ran = re.findall(r"\[(gw\d)\] .*PASSED test_groups\.py::(test_\w+)\[\d\](@\w+)?", done.stdout)
    shared = [(worker, group) for worker, name, group in ran if name == "test_shares_the_fixture"]
    assert len(shared) == 6 and {group for _, group in shared} == {"@costly"}, done.stdout[-3000:]
    assert len({worker for worker, _ in shared}) == 1, shared
    assert len([name for _, name, _ in ran if name == "test_alone"]) == 6
