"""The command line as a user runs it: ``python -m parakeet_desktop`` in a process of its own.

Most of a command's time in a new process is importing NeMo (10-20 s on the build machines, each
time). So the commands run in processes forked from one that imported it already (Python's
``multiprocessing`` fork server, started once per test session): each is still a new process,
with its own state, standard streams, current folder, environment and exit status, started from
``parakeet_desktop.__main__.main`` as the installed script is. What a process reads once at import
(the model hub's address, thread counts, Qt's platform) is the fork server's: a call whose
environment differs there runs as a plain subprocess instead.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# Read at import by the libraries the fork server loads: a command that needs other values of
# these runs as a plain subprocess.
_READ_AT_IMPORT = ("HF_", "HUGGINGFACE", "NEMO", "TORCH", "PYTORCH", "OMP_", "MKL_", "CUDA", "RAY_", "QT_",
                   "PYTHON", "ONEDNN", "DNNL", "LD_")
_PRELOAD = ["parakeet_desktop.__main__", "parakeet_desktop.cli.main", "nemo.collections.asr", "torch"]
_context: multiprocessing.context.BaseContext | None = None
# The environment the fork server starts with: the test session's as it was when the tests were
# collected, not as a test that happens to run the first command has changed it.
_server_env: dict[str, str] = dict(os.environ)


def _import_time_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(_READ_AT_IMPORT)}


def _fork_server() -> multiprocessing.context.BaseContext:
    global _context
    if _context is None:
        from multiprocessing import forkserver

        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        now = dict(os.environ)
        try:
            os.environ.clear()
            os.environ.update(_server_env)
            forkserver.ensure_running()
        finally:
            os.environ.clear()
            os.environ.update(now)
        _context = context
    return _context


def _command(argv: list[str], cwd: str | None, env: dict[str, str], out: str, err: str) -> None:
    """In the forked process: the caller's folder, environment and argv; stdout and stderr to
    *out* and *err*; the command's exit status as the process's."""
    os.environ.clear()
    os.environ.update(env)
    if cwd is not None:
        os.chdir(cwd)
    for fd, path in ((1, out), (2, err)):
        file = os.open(path, os.O_WRONLY | os.O_TRUNC)
        os.dup2(file, fd)
        os.close(file)
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False, buffering=1)
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)
    sys.argv = ["parakeet-desktop", *argv]
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


def run_cli(*args: str, cwd=None, timeout: float = 600) -> subprocess.CompletedProcess:
    """``parakeet-desktop ARGS…`` in a new process, as a user runs it: its exit status, stdout and
    stderr as text."""
    env = dict(os.environ)
    if env.get("PARAKEET_TESTS_PLAIN_CLI") or _import_time_env(env) != _import_time_env(_server_env):
        return subprocess.run([sys.executable, "-m", "parakeet_desktop", *args], capture_output=True,
                              text=True, timeout=timeout, cwd=cwd)
    context = _fork_server()
    with tempfile.TemporaryDirectory(prefix="cli-") as folder:
        out, err = Path(folder) / "stdout", Path(folder) / "stderr"
        out.touch()
        err.touch()
        process = context.Process(target=_command, args=(list(args), None if cwd is None else str(cwd), env,
                                                         str(out), str(err)))
        process.start()
        process.join(timeout)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(["parakeet-desktop", *args], timeout,
                                            out.read_bytes(), err.read_bytes())
        return subprocess.CompletedProcess(["parakeet-desktop", *args], process.exitcode,
                                           out.read_text("utf-8", "replace"), err.read_text("utf-8", "replace"))
