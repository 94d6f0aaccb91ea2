"""The soak test's judgement: which figures fail a run, and how it finds its own processes."""

import os
import subprocess
import sys
import time

from tools import soak


def _passing_figures():
    return {
        "poll_failures": 0,
        "worker_kills": 2,
        "worker_restarts": 2,
        "jobs": {"done": 40},
        "all_jobs": {"done": 40},
        "unrecoverable_errors": 0,
        "second_beat_refused": True,
        "processes_left": 0,
    }


class _Run:
    problems = []


def test_a_clean_run_has_no_problem():
    assert soak._problems(_Run(), _passing_figures()) == []


def test_each_failed_check_is_named():
    figures = {
        **_passing_figures(),
        "poll_failures": 3,
        "worker_restarts": 1,
        "jobs": {"done": 39, "running": 1},
        "all_jobs": {"done": 39, "queued": 1},
        "unrecoverable_errors": 1,
        "second_beat_refused": False,
        "processes_left": 2,
    }

    problems = soak._problems(_Run(), figures)

    assert problems == [
        "3 web polls failed",
        "a killed worker did not restart",
        "jobs not done: {'done': 39, 'running': 1}",
        "jobs unfinished: {'done': 39, 'queued': 1}",
        "a worker logged an unrecoverable error",
        "a second beat did not say it would not tick",
        "processes were left after the stop",
    ]


def test_percentiles_pick_from_the_sorted_values():
    values = [float(n) for n in range(100, 0, -1)]

    assert soak._percentile(values, 0.5) == 51.0
    assert soak._percentile(values, 0.95) == 96.0
    assert soak._percentile(values, 1.0) == 100.0
    assert soak._percentile([], 0.5) == 0.0


def test_it_finds_the_processes_started_with_its_state_folder(tmp_path):
    stack = soak.Stack(tmp_path, port=1)
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], env=stack.env)
    try:
        deadline = time.monotonic() + 10
        while process.pid not in stack.processes() and time.monotonic() < deadline:
            time.sleep(0.05)

        found = stack.processes()
        parent = soak._parent(process.pid)
    finally:
        process.kill()
        process.wait()

    assert process.pid in found
    assert os.getpid() not in found
    assert parent == os.getpid()
