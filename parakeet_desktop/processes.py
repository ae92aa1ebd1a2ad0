"""Whether a process still runs, for the files that name the process that wrote them (the
service's discovery file, its folder of uploads)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def pid_alive(pid: object) -> bool:
    """True while a process *pid* exists (perhaps another program that was given the number
    again: callers that trust what the process says check that too)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to someone else
        return True
    except OSError:
        return False
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A process that has ended but whose parent has not collected it yet (Linux: state Z)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 : stat.rfind(")") + 3] == "Z"


if sys.platform == "win32":  # the Windows API exists there alone
    def _windows_pid_alive(pid: int) -> bool:
        import ctypes

        query_limited_information, still_active = 0x1000, 259
        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(query_limited_information, False, pid)
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == still_active
        finally:
            kernel32.CloseHandle(handle)
