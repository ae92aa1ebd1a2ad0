"""Summaries the benchmarks print."""

from __future__ import annotations

import statistics


def median_p95(values: list[float], digits: int = 3) -> dict:
    """Median, 95th percentile (nearest rank) and count of *values*; None figures when empty."""
    if not values:
        return {"median": None, "p95": None, "n": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median": round(statistics.median(ordered), digits), "p95": round(p95, digits), "n": len(ordered)}


# The instruction sets that decide which of oneDNN's and FBGEMM's kernels a CPU runs (and so the
# speed of the CPU path, and whether a half-precision product exists at all), as /proc/cpuinfo
# names them.
_INSTRUCTION_SETS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_ne_convert",
                     "avx_vnni", "amx_tile", "amx_bf16", "amx_fp16", "asimd", "sve")


def cpu() -> dict:
    """The CPU the figures were measured on: model, logical cores, and its instruction sets that
    matter to PyTorch's CPU kernels (from /proc/cpuinfo where there is one)."""
    import os
    import platform

    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    model = value.strip()
                elif key.strip() in ("flags", "Features"):
                    flags.update(value.split())
    except OSError:
        pass
    described = {"model": model, "cores": os.cpu_count(),
                 "instruction_sets": [name for name in _INSTRUCTION_SETS if name in flags]}
    if os.environ.get("ONEDNN_MAX_CPU_ISA"):  # oneDNN told to use no newer instructions than these
        described["onednn_max_cpu_isa"] = os.environ["ONEDNN_MAX_CPU_ISA"]
    return described


def cpu_name() -> str:
    """:func:`cpu` in a few words: "AMD EPYC, 2 cores, avx2 avx512f …"."""
    described = cpu()
    capped = f", oneDNN capped at {described['onednn_max_cpu_isa']}" if "onednn_max_cpu_isa" in described else ""
    return (f"{described['model']}, {described['cores']} cores, "
            f"{' '.join(described['instruction_sets']) or 'no AVX2'}{capped}")
