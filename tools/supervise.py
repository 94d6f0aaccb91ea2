"""Run one process of the Procfile and start it again whenever it dies, with a growing pause.

    python -m tools.supervise NAME -- COMMAND [ARG ...]

honcho stops every process when one exits; under this loop a crashed worker or beat is restarted
(after 1 s, doubling up to 30 s while it keeps dying young) and the web server stays up. SIGTERM or
SIGINT stops the command (it is passed on as SIGTERM) and then this loop, which exits with 0.
The command stays in this process group, so honcho's SIGKILL after its grace period reaches it too.
"""

import signal
import subprocess
import sys
import time

FIRST_PAUSE = 1.0
LONGEST_PAUSE = 30.0
HEALTHY_SECONDS = 60.0  # a run this long resets the pause to FIRST_PAUSE
STOP_GRACE_SECONDS = 20.0
USAGE = "usage: python -m tools.supervise NAME -- COMMAND [ARG ...]"


class Supervisor:
    """Restart ``command`` until asked to stop."""

    def __init__(self, name: str, command: list[str]):
        self.name = name
        self.command = command
        self.child: subprocess.Popen | None = None
        self.stopping = False
        self.starts = 0

    def say(self, text: str) -> None:
        print(f"supervise[{self.name}]: {text}", file=sys.stderr, flush=True)

    def stop(self, signum, frame) -> None:
        """Signal handler: stop the command and do not start it again."""
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signal.SIGTERM)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        pause = FIRST_PAUSE
        while not self.stopping:
            started = time.monotonic()
            self.child = subprocess.Popen(self.command)  # noqa: S603 (the Procfile's own command)
            self.starts += 1
            if self.stopping:  # the signal came while the command was starting
                self.child.send_signal(signal.SIGTERM)
            code = self.child.wait()
            if self.stopping:
                break
            lasted = time.monotonic() - started
            if lasted >= HEALTHY_SECONDS:
                pause = FIRST_PAUSE
            self.say(
                f"exited with {_describe(code)} after {lasted:.0f} s; restarting in {pause:g} s"
            )
            self._sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)
        self._wait_for_child()
        return 0

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, deadline - time.monotonic()))

    def _wait_for_child(self) -> None:
        if self.child is None or self.child.poll() is not None:
            return
        try:
            self.child.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.say(f"did not stop within {STOP_GRACE_SECONDS:g} s; killing it")
            self.child.kill()
            self.child.wait()


def _describe(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"status {code}"


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(USAGE, file=sys.stderr)
        return 2
    return Supervisor(argv[0], argv[2:]).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
