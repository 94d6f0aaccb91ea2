"""The restart loop of the Procfile: a dead process is started again; a stop signal stops both."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tools import supervise

ROOT = Path(__file__).resolve().parent.parent.parent


def _start(tmp_path, script):
    command = [sys.executable, "-c", script]
    return subprocess.Popen(
        [sys.executable, "-m", "tools.supervise", "demo", "--", *command],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for_lines(path, count, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().split()) >= count:
            return path.read_text().split()
        time.sleep(0.05)
    raise AssertionError(f"{path} did not reach {count} lines")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_command_that_dies_is_started_again(tmp_path):
    starts = tmp_path / "starts"
    script = f"import os; open({str(starts)!r}, 'a').write(f'{{os.getpid()}}\\n'); os._exit(3)"
    process = _start(tmp_path, script)

    pids = _wait_for_lines(starts, 2)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=20)

    assert len(set(pids)) >= 2
    assert "supervise[demo]: exited with status 3 after 0 s; restarting in 1 s" in err
    assert process.returncode == 0


def test_a_command_killed_with_sigkill_is_started_again(tmp_path):
    starts = tmp_path / "starts"
    script = (
        f"import os, time; open({str(starts)!r}, 'a').write(f'{{os.getpid()}}\\n'); time.sleep(60)"
    )
    process = _start(tmp_path, script)
    first = int(_wait_for_lines(starts, 1)[0])

    os.kill(first, signal.SIGKILL)
    second = int(_wait_for_lines(starts, 2)[1])
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=20)

    assert second != first
    assert "exited with signal SIGKILL" in err
    assert process.returncode == 0
    assert not _alive(second)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_the_command_and_the_loop(tmp_path, signum):
    starts = tmp_path / "starts"
    script = (
        f"import os, time; open({str(starts)!r}, 'a').write(f'{{os.getpid()}}\\n'); time.sleep(60)"
    )
    process = _start(tmp_path, script)
    child = int(_wait_for_lines(starts, 1)[0])

    started = time.monotonic()
    process.send_signal(signum)
    process.communicate(timeout=20)

    assert time.monotonic() - started < 5
    assert process.returncode == 0
    assert not _alive(child)
    assert len(starts.read_text().split()) == 1


def test_it_refuses_a_command_line_without_a_command(capsys):
    assert supervise.main(["worker"]) == 2
    assert supervise.USAGE in capsys.readouterr().err


def test_under_honcho_a_crashing_process_does_not_stop_the_others(tmp_path):
    """What `make run` does with the Procfile, with a sleeper for the web and a crashing worker."""
    python, marker = sys.executable, f"marker-{uuid.uuid4().hex}"
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        f"web: {python} -c 'import time; time.sleep(120)' {marker}\n"
        f"worker: {python} -m tools.supervise worker -- "
        f"{python} -c 'import os; os._exit(1)' {marker}\n"
    )
    honcho = subprocess.Popen(
        [str(Path(python).parent / "honcho"), "-f", str(procfile), "-d", str(ROOT), "start"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )

    time.sleep(5)
    still_running = honcho.poll() is None
    honcho.send_signal(signal.SIGINT)
    output, _ = honcho.communicate(timeout=30)

    assert still_running
    assert output.count("supervise[worker]: exited with status 1") >= 2
    assert "web.1 stopped" in output and "SIGINT received" in output
    time.sleep(0.5)
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).stdout == b""
