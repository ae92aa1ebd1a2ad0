"""A process's memory as Linux reports it (/proc), for tests and benchmarks: resident now, the
peak, and the peak started again from now."""

from __future__ import annotations

from pathlib import Path


def _status_mb(field: str, pid: int | str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory now, in MB."""
    return _status_mb("VmRSS", pid)


def peak_rss_mb(pid: int | str = "self") -> float:
    """The most resident memory since the process started, or since :func:`reset_peak`."""
    return _status_mb("VmHWM", pid)


def reset_peak(pid: int | str = "self") -> None:
    """Count the peak from now on (clear_refs 5 sets VmHWM to the current RSS)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
