"""grader.docker.container_tests: the Slots that narrow task 10's runs while the late checks run
(pure logic; the runs themselves are tested against a real engine in test_sandbox.py and the corpus)."""

from __future__ import annotations

import threading
import time

from grader.docker.container_tests import Slots, _linked


def _hold(slots: Slots, active: list[int], peak: list[int], lock: threading.Lock, seconds: float) -> None:
    with slots:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(seconds)
        with lock:
            active[0] -= 1


def _run(slots: Slots, jobs: int, seconds: float) -> tuple[list[threading.Thread], list[int]]:
    active, peak, lock = [0], [0], threading.Lock()
    threads = [threading.Thread(target=_hold, args=(slots, active, peak, lock, seconds)) for _ in range(jobs)]
    for thread in threads:
        thread.start()
    return threads, peak


def test_slots_hold_at_most_their_width():
    threads, peak = _run(Slots(lambda: 2, poll=0.01), jobs=6, seconds=0.05)
    for thread in threads:
        thread.join(timeout=10)
    assert peak[0] == 2


def test_slots_widen_while_jobs_wait():
    wide = threading.Event()
    threads, peak = _run(Slots(lambda: 3 if wide.is_set() else 1, poll=0.01), jobs=6, seconds=0.2)
    time.sleep(0.1)
    assert peak[0] == 1
    wide.set()
    for thread in threads:
        thread.join(timeout=10)
    assert peak[0] == 3


def test_a_width_below_one_still_lets_one_job_run():
    threads, peak = _run(Slots(lambda: 0, poll=0.01), jobs=2, seconds=0.01)
    for thread in threads:
        thread.join(timeout=10)
    assert peak[0] == 1 and not any(t.is_alive() for t in threads)


def test_the_run_closing_stops_the_container_tests():
    stop, closing = threading.Event(), threading.Event()
    _linked(stop, closing)
    assert not stop.wait(timeout=0.2)
    closing.set()
    assert stop.wait(timeout=5)
