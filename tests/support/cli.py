"""The command line as a user runs it: ``python -m parakeet_desktop`` in a process of its own.

Most of a command's time in a new process is importing NeMo (10-20 s on the build machines, each
time). So the commands run in processes forked from one that imported it already (Python's
``multiprocessing`` fork server, started once per test session): each is still a new process,
with its own state, standard streams, current folder, environment, signals and exit status,
started from ``parakeet_desktop.__main__.main`` as the installed script is. What a process reads
once at import (the model hub's address, the temporary folder, thread counts, Qt's platform) is
the fork server's: a command whose environment differs there runs as a plain subprocess instead,
and ``PARAKEET_TESTS_PLAIN_CLI=1`` makes every command one (to compare).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch  # noqa: F401  (it sets variables of its own when imported: they are in every environment below)

# Read at import by the libraries the fork server loads: a command that needs other values of
# these runs as a plain subprocess.
_READ_AT_IMPORT = ("HF_", "HUGGINGFACE", "NEMO", "TORCH", "PYTORCH", "OMP_", "MKL_", "CUDA", "RAY_", "QT_",
                   "PYTHON", "ONEDNN", "DNNL", "LD_", "TMPDIR", "TEMP", "TMP")
_PRELOAD = ["parakeet_desktop.__main__", "parakeet_desktop.cli.main", "nemo.collections.asr", "torch"]
_context: multiprocessing.context.BaseContext | None = None
_server_env: dict[str, str] | None = None  # the environment the fork server started with
_starting = threading.Lock()


def _import_time_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(_READ_AT_IMPORT)}


def _fork_server() -> multiprocessing.context.BaseContext:
    """The fork server, started by the first command that forks, with this process's environment
    (the same, in what is read at import, as that command's)."""
    global _context, _server_env
    with _starting:
        if _context is None:
            from multiprocessing import forkserver

            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(_PRELOAD)
            forkserver.ensure_running()
            _context, _server_env = context, dict(os.environ)
    return _context


def _forks(env: dict[str, str]) -> bool:
    """Whether a command with *env* may fork from the fork server (started or to be started)."""
    if env.get("PARAKEET_TESTS_PLAIN_CLI"):
        return False
    # Before the server starts, this process's environment is the one it will start with.
    return _import_time_env(env) == _import_time_env(dict(os.environ) if _server_env is None else _server_env)


def _command(argv: list[str], cwd: str | None, env: dict[str, str], out: str, err: str) -> None:
    """In the forked process: the caller's folder, environment and argv; stdout and stderr to
    *out* and *err*; the command's exit status as the process's."""
    os.environ.clear()
    os.environ.update(env)
    if cwd is not None:
        os.chdir(cwd)
    for fd, path in ((1, out), (2, err)):
        file = os.open(path, os.O_WRONLY | os.O_APPEND)
        os.dup2(file, fd)
        os.close(file)
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False, buffering=1)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)  # noqa: SIM115
    sys.argv = ["parakeet-desktop", *argv]
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the fork server ignores it; a command does not
    from parakeet_desktop.__main__ import main

    try:
        code = main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


class Command:
    """A running ``parakeet-desktop`` command with what tests use of ``subprocess.Popen``:
    ``pid``, ``poll()``, ``wait()``, ``send_signal()``, ``terminate()``, ``kill()``,
    ``returncode``; its output in the files ``stdout`` and ``stderr``."""

    def __init__(self, argv: list[str], cwd=None, env: dict[str, str] | None = None) -> None:
        self.args = ["parakeet-desktop", *argv]
        env = dict(os.environ if env is None else env)
        self._folder = tempfile.TemporaryDirectory(prefix="command-")
        self.stdout, self.stderr = Path(self._folder.name) / "stdout", Path(self._folder.name) / "stderr"
        self.stdout.touch()
        self.stderr.touch()
        self._plain: subprocess.Popen | None = None
        self._forked = None
        if not _forks(env):
            with open(self.stdout, "wb") as out, open(self.stderr, "wb") as err:
                self._plain = subprocess.Popen([sys.executable, "-m", "parakeet_desktop", *argv], stdout=out,
                                               stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd)
            self.pid = self._plain.pid
        else:
            self._forked = _fork_server().Process(
                target=_command, args=(list(argv), None if cwd is None else str(cwd), env, str(self.stdout),
                                       str(self.stderr)))
            self._forked.start()
            self.pid = self._forked.pid

    @property
    def returncode(self) -> int | None:
        return self.poll()

    def poll(self) -> int | None:
        if self._plain is not None:
            return self._plain.poll()
        return self._forked.exitcode

    def wait(self, timeout: float | None = None) -> int:
        if self._plain is not None:
            return self._plain.wait(timeout)
        self._forked.join(timeout)
        if self._forked.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self._forked.exitcode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def stderr_lines(self):
        """stderr's lines as they are written, until the command ends."""
        with open(self.stderr, encoding="utf-8", errors="replace") as stream:
            line = ""
            while True:
                line += stream.readline()
                if line.endswith("\n"):
                    yield line
                    line = ""
                elif self.poll() is not None:
                    rest = line + stream.read()
                    yield from rest.splitlines(keepends=True)
                    return
                else:
                    time.sleep(0.02)

    def close(self) -> None:
        """Stopped if still running; its output files removed."""
        if self.poll() is None:
            self.kill()
            self.wait(60)
        self._folder.cleanup()


def run_cli(*args: str, cwd=None, timeout: float = 600) -> subprocess.CompletedProcess:
    """``parakeet-desktop ARGS…`` in a new process, as a user runs it: its exit status, stdout and
    stderr as text."""
    command = Command(list(args), cwd=cwd)
    try:
        try:
            code = command.wait(timeout)
        except subprocess.TimeoutExpired:
            command.kill()
            command.wait(60)
            raise subprocess.TimeoutExpired(command.args, timeout, command.stdout.read_bytes(),
                                            command.stderr.read_bytes()) from None
        return subprocess.CompletedProcess(command.args, code, command.stdout.read_text("utf-8", "replace"),
                                           command.stderr.read_text("utf-8", "replace"))
    finally:
        command.close()
