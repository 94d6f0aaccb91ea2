"""Soak test of the embedded default (`make soak`): `make run` on a busy machine, workers killed.

It sets up a fresh state folder (VAR_DIR in a temporary folder: SQLite, file broker, file cache),
starts the Procfile with honcho as `make run` does, keeps the machine busy (SOAK_LOAD: `pytest`
runs part of the suite in a loop, `cpu` spins one process per core, `none`), asks the web for
/healthz every second, queues jobs through the web (a self-test, a feature refresh) every
SOAK_JOB_SECONDS, SIGKILLs the Celery worker twice (at a third and two thirds of the time), starts
a second beat once to see it refuse, and at the end waits for every job to finish. It prints its
figures, ends with one JSON line, and exits non-zero on any failure.

    SOAK_MINUTES=3 .venv/bin/python -m tools.soak      # default 30 minutes
"""

import contextlib
import http.cookiejar
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
FINISHED = ("done", "failed")
LOAD_TESTS = ["tests/core", "tests/segments"]
SECOND_BEAT_WARNING = "already runs for this deployment"


def _env_number(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    try:
        return float(value) if value else default
    except ValueError:
        sys.exit(f"{name}={value!r}: give a number.")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _say(text: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {text}", flush=True)


class Web:
    """A logged-in browser of the product on loopback."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect
        )

    def get(self, path: str, timeout: float = 10.0) -> int:
        try:
            with self.opener.open(self.base + path, timeout=timeout) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def post(self, path: str, data: dict) -> tuple[int, str]:
        token = next((c.value for c in self.jar if c.name == "csrftoken"), "")
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(  # noqa: S310 (http on loopback only)
            self.base + path, data=body, headers={"Referer": self.base + path}
        )
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.headers.get("Location", "")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("Location", "")

    def login(self, username: str, password: str) -> None:
        self.get("/accounts/login/")
        status, _ = self.post("/accounts/login/", {"username": username, "password": password})
        if status != 302:
            raise RuntimeError(f"login as {username} answered {status}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Stack:
    """The Procfile under honcho, in a fresh state folder."""

    def __init__(self, var_dir: Path, port: int):
        self.var_dir = var_dir
        self.port = port
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "CELERY_BROKER_FOLDER"}
        }
        self.env.update(
            VAR_DIR=str(var_dir),
            WEB_PORT=str(port),
            PYTHONUNBUFFERED="1",
            JOB_STALE_SECONDS=os.environ.get("JOB_STALE_SECONDS", "30"),
        )
        self.log_path = var_dir / "honcho.log"
        self.honcho = None

    def setup(self) -> None:
        for command in (["migrate", "--noinput"], ["demo_setup"]):
            subprocess.run(  # noqa: S603 (our own manage.py)
                [PYTHON, "manage.py", *command],
                cwd=ROOT,
                env=self.env,
                check=True,
                stdout=subprocess.DEVNULL,
            )

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.honcho = subprocess.Popen(  # noqa: S603 (our own Procfile)
                [str(ROOT / ".venv" / "bin" / "honcho"), "start"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def credentials(self) -> dict[str, str]:
        lines = (self.var_dir / "demo-credentials.txt").read_text().splitlines()
        return dict(line.split(" ", 1) for line in lines if " " in line)

    def processes(self) -> dict[int, str]:
        """Return pid and command line of every process started with this state folder."""
        found = {}
        marker = f"VAR_DIR={self.var_dir}".encode()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError):
                if marker in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                    command = Path(f"/proc/{entry}/cmdline").read_bytes()
                    found[int(entry)] = command.replace(b"\0", b" ").decode(errors="replace")
        return found

    def worker_pid(self) -> int | None:
        """Return the Celery worker's main process (the supervisor's child)."""
        for pid, command in self.processes().items():
            if "celery" in command and " worker" in command and "supervise" not in command:
                parent = _parent(pid)
                if "tools.supervise" in self.processes().get(parent, ""):
                    return pid
        return None

    def stop(self) -> float:
        """Stop honcho as Ctrl-C does; return the seconds it took."""
        started = time.monotonic()
        if self.honcho and self.honcho.poll() is None:
            self.honcho.send_signal(signal.SIGINT)
            try:
                self.honcho.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.honcho.pid, signal.SIGKILL)
        return time.monotonic() - started

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _parent(pid: int) -> int:
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[1])
    return 0


class Load:
    """Keep the machine busy: the test suite in a loop, or one spinning process per core."""

    def __init__(self, kind: str, var_dir: Path):
        self.kind = kind
        self.var_dir = var_dir
        self.processes: list[subprocess.Popen] = []
        self.runs = 0
        self.failed_runs = 0

    def start(self) -> None:
        if self.kind == "cpu":
            spin = "while True: pass"
            for _ in range(os.cpu_count() or 1):
                self.processes.append(subprocess.Popen([sys.executable, "-c", spin]))  # noqa: S603
        elif self.kind == "pytest":
            self._start_pytest()
        elif self.kind != "none":
            sys.exit(f"SOAK_LOAD={self.kind!r}: use pytest, cpu or none.")

    def _start_pytest(self) -> None:
        env = {
            k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}
        }
        command = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", *LOAD_TESTS]
        log = open(self.var_dir / "load.log", "ab")  # noqa: SIM115 (kept open while it runs)
        self.processes = [
            subprocess.Popen(  # noqa: S603 (our own test suite)
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        ]

    def keep_going(self) -> None:
        """Start the suite again when a run ends, counting runs and failed runs."""
        if self.kind != "pytest" or self.processes[0].poll() is None:
            return
        self.runs += 1
        self.failed_runs += self.processes[0].returncode != 0
        self._start_pytest()

    def stop(self) -> None:
        for process in self.processes:
            # pytest stops on SIGINT after its fixtures' teardown (a test's worker included)
            process.send_signal(signal.SIGINT if self.kind == "pytest" else signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Soak:
    """The run: polls, jobs and kills on a clock; figures at the end."""

    def __init__(self, stack: Stack, load: Load, minutes: float, job_seconds: float):
        self.stack = stack
        self.load = load
        self.seconds = minutes * 60
        self.job_seconds = job_seconds
        self.web = Web(stack.port)
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.web_errors = 0
        self.jobs: list[int] = []
        self.kills: list[dict] = []
        self.problems: list[str] = []

    def poll_web(self) -> None:
        started = time.monotonic()
        try:
            status = self.web.get("/healthz", timeout=5)
        except OSError as exc:
            status = f"{type(exc).__name__}"
        self.latencies.append(time.monotonic() - started)
        if status != 200:
            self.web_errors += 1
            self.failures.append(f"{time.strftime('%H:%M:%S')} /healthz {status}")

    def queue_job(self) -> None:
        path = "/jobs/selftest/" if len(self.jobs) % 2 == 0 else "/profiles/features/refresh/"
        try:
            status, location = self.web.post(path, {})
        except OSError as exc:
            status, location = type(exc).__name__, ""
        if status == 302 and "/jobs/" in location:
            self.jobs.append(int(location.rstrip("/").rsplit("/", 1)[1]))
        else:
            self.problems.append(f"POST {path} answered {status}")

    def kill_worker(self) -> None:
        pid = self.stack.worker_pid()
        if pid is None:
            self.problems.append("no worker process to kill")
            return
        os.kill(pid, signal.SIGKILL)
        self.kills.append({"at_second": round(time.monotonic() - self.started), "pid": pid})
        _say(f"SIGKILL to the worker (pid {pid})")

    def run(self) -> None:
        self.started = time.monotonic()
        kill_at = [self.seconds / 3, 2 * self.seconds / 3]
        next_job = 0.0
        next_report = 60.0
        while (elapsed := time.monotonic() - self.started) < self.seconds:
            tick = time.monotonic()
            self.poll_web()
            if elapsed >= next_job:
                self.queue_job()
                next_job += self.job_seconds
            if kill_at and elapsed >= kill_at[0]:
                kill_at.pop(0)
                self.kill_worker()
            if elapsed >= next_report:
                _say(
                    f"{elapsed / 60:.0f} min: {len(self.latencies)} polls, "
                    f"{self.web_errors} failed, {len(self.jobs)} jobs queued"
                )
                next_report += 60
            if self.stack.honcho.poll() is not None:
                self.problems.append(f"honcho exited ({self.stack.honcho.returncode})")
                return
            self.load.keep_going()
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))

    def second_beat(self) -> bool:
        """Start a second beat beside the running one; True when it says it will not tick."""
        command = [
            str(ROOT / ".venv" / "bin" / "celery"),
            "-A",
            "config",
            "beat",
            "-l",
            "INFO",
            "--schedule",
            str(self.stack.var_dir / "second-beat-schedule"),
        ]
        process = subprocess.Popen(  # noqa: S603 (our own beat)
            command,
            cwd=ROOT,
            env=self.stack.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        time.sleep(15)
        process.terminate()
        output = process.communicate(timeout=30)[0].decode(errors="replace")
        return SECOND_BEAT_WARNING in output

    def wait_for_jobs(self, timeout: float) -> dict[str, int]:
        """Wait until every job in the database has finished; return the count per status."""
        deadline = time.monotonic() + timeout
        database = self.stack.var_dir / "db.sqlite3"
        while True:
            with contextlib.closing(sqlite3.connect(database, timeout=30)) as db:
                rows = db.execute("SELECT status, COUNT(*) FROM core_job GROUP BY status")
                counts = dict(rows.fetchall())
            if all(status in FINISHED for status in counts) or time.monotonic() > deadline:
                return counts
            time.sleep(2)

    def job_statuses(self) -> dict[str, int]:
        database = self.stack.var_dir / "db.sqlite3"
        marks = ",".join("?" * len(self.jobs))
        with contextlib.closing(sqlite3.connect(database, timeout=30)) as db:
            rows = db.execute(
                f"SELECT status, COUNT(*) FROM core_job WHERE id IN ({marks}) GROUP BY status",
                self.jobs,
            )
            return dict(rows.fetchall())


def _figures(
    soak: Soak, all_jobs: dict, stop_seconds: float, leftovers: dict, second_beat_refused: bool
) -> dict:
    log = soak.stack.log()
    unreadable = soak.stack.var_dir / "broker" / "unreadable"
    return {
        "minutes": round(soak.seconds / 60, 1),
        "load": soak.load.kind,
        "load_runs": soak.load.runs,
        "load_failed_runs": soak.load.failed_runs,
        "polls": len(soak.latencies),
        "poll_failures": soak.web_errors,
        "latency_ms": {
            name: round(1000 * _percentile(soak.latencies, share), 1)
            for name, share in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))
        },
        "jobs_queued": len(soak.jobs),
        "jobs": soak.job_statuses() if soak.jobs else {},
        "all_jobs": all_jobs,
        "worker_kills": len(soak.kills),
        "worker_restarts": log.count("supervise[worker]: exited"),
        "beat_restarts": log.count("supervise[beat]: exited"),
        "unrecoverable_errors": log.count("Unrecoverable error"),
        "unreadable_messages": len(os.listdir(unreadable)) if unreadable.exists() else 0,
        "stop_seconds": round(stop_seconds, 1),
        "processes_left": len(leftovers),
        "second_beat_refused": second_beat_refused,
    }


def _problems(soak: Soak, figures: dict) -> list[str]:
    problems = list(soak.problems)
    checks = [
        (figures["poll_failures"] == 0, f"{figures['poll_failures']} web polls failed"),
        (figures["worker_kills"] == 2, "the worker was not killed twice"),
        (figures["worker_restarts"] >= figures["worker_kills"], "a killed worker did not restart"),
        (set(figures["jobs"]) <= {"done"}, f"jobs not done: {figures['jobs']}"),
        (set(figures["all_jobs"]) <= set(FINISHED), f"jobs unfinished: {figures['all_jobs']}"),
        (figures["unrecoverable_errors"] == 0, "a worker logged an unrecoverable error"),
        (figures["second_beat_refused"], "a second beat did not say it would not tick"),
        (figures["processes_left"] == 0, "processes were left after the stop"),
    ]
    problems += [message for ok, message in checks if not ok]
    return problems


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    # SIGTERM and SIGINT (even when inherited as ignored by a background job) stop the stack too.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    minutes = _env_number("SOAK_MINUTES", 30)
    job_seconds = _env_number("SOAK_JOB_SECONDS", 20)
    var_dir = Path(tempfile.mkdtemp(prefix="soak-"))
    stack = Stack(var_dir, _free_port())
    load = Load(os.environ.get("SOAK_LOAD", "pytest"), var_dir)
    _say(f"{minutes:g} min, load {load.kind}, state in {var_dir}, web on port {stack.port}")
    stack.setup()
    stack.start()
    soak = Soak(stack, load, minutes, job_seconds)
    try:
        _wait_for_web(soak.web, stack)
        soak.web.login("ops", stack.credentials()["ops"])
        load.start()
        soak.run()
        second_beat_refused = soak.second_beat()
    except BaseException:
        stack.stop()  # leave nothing running behind a crashed or interrupted soak
        raise
    finally:
        load.stop()
    _say("waiting for every job to finish")
    all_jobs = soak.wait_for_jobs(timeout=_env_number("SOAK_DRAIN_SECONDS", 300))
    stop_seconds = stack.stop()
    time.sleep(1)
    figures = _figures(soak, all_jobs, stop_seconds, stack.processes(), second_beat_refused)
    problems = _problems(soak, figures)
    for name, value in figures.items():
        print(f"  {name:<22} {value}")
    for problem in problems:
        print(f"FAILED: {problem}")
    if problems or os.environ.get("SOAK_KEEP"):
        print(f"state and logs kept in {var_dir}")
    else:
        shutil.rmtree(var_dir, ignore_errors=True)
    print(json.dumps({"soak": "failed" if problems else "passed", **figures, "problems": problems}))
    return 1 if problems else 0


def _wait_for_web(web: Web, stack: Stack, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if web.get("/healthz", timeout=5) == 200:
                return
        if stack.honcho.poll() is not None:
            break
        time.sleep(1)
    stack.stop()
    sys.exit(f"the web did not answer within {timeout:g} s; see {stack.log_path}")


if __name__ == "__main__":
    sys.exit(main())
