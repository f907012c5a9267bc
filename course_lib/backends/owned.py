"""Servers that never outlive the process that started them, however it ends.

A private `redis-server` started by a kernel used to keep running after that kernel was killed with
SIGKILL (nothing runs at a kill -9: no atexit, no finally), and its temporary directory stayed behind;
a day of test runs left three servers and 43 directories. On a workshop server that becomes hundreds.

So a private server is started under a small watchdog, this module run as a program:

    owner --(pipe: the owner holds the only write end)--> watchdog --> server

The watchdog starts the server, then waits for end-of-file on its stdin. Only the owner holds the
pipe's write end, and the kernel closes it when the owner exits for any reason, kill -9 included: the
watchdog then stops the server and deletes its directory. A parent-death signal (Linux's
PR_SET_PDEATHSIG) would be shorter, but it fires when the *thread* that started the child exits, and
backends are often resolved in a worker thread; a pipe works on every POSIX system and in any thread.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
from typing import Any

STOP_TIMEOUT_S = 5.0


class OwnedProcess:
    """A server under its watchdog. `stop()` (or this process ending) stops both and removes `workdir`."""

    def __init__(self, argv: list[str], workdir: str | None = None, **popen: Any) -> None:
        read_end, self._write_end = os.pipe()  # neither end is inherited by other children (PEP 446)
        command = [sys.executable, "-m", "course_lib.backends.owned", *(["--dir", workdir] if workdir else []),
                   "--", *argv]
        try:
            # A session of its own: Jupyter kills a stuck kernel's whole process group, which must not take
            # the watchdog with it (the server would die unwatched and leave its directory behind).
            self.process = subprocess.Popen(command, stdin=read_end, start_new_session=True, **popen)
        finally:
            os.close(read_end)
        self.stderr = self.process.stderr

    def poll(self) -> int | None:
        return self.process.poll()

    def stop(self) -> None:
        """Close the pipe (the watchdog stops the server and cleans up), then wait for the watchdog."""
        if self._write_end >= 0:
            os.close(self._write_end)
            self._write_end = -1
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.terminate()  # the watchdog's SIGTERM handler still stops the server first
            self.process.wait(timeout=STOP_TIMEOUT_S)


def _watch(command: list[str], workdir: str | None) -> int:
    server = subprocess.Popen(command, stdin=subprocess.DEVNULL)

    def stop_server(*_: Any) -> None:
        if server.poll() is None:
            server.terminate()

    signal.signal(signal.SIGTERM, stop_server)
    signal.signal(signal.SIGINT, stop_server)

    def owner_gone() -> None:
        sys.stdin.buffer.read()  # returns at end-of-file: the owner closed the pipe or no longer exists
        stop_server()

    threading.Thread(target=owner_gone, daemon=True).start()
    try:
        code = server.wait()
    finally:
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run a server until the process holding our stdin's pipe is gone")
    parser.add_argument("--dir", help="a directory to delete once the server has stopped")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the server's command line")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the server's command after --")
    return _watch(command, args.dir)


if __name__ == "__main__":
    sys.exit(main())
