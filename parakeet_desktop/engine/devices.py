"""Which device and number format a model runs in: CUDA with bf16 or fp16 where usable, else CPU.

The choice is a pure function of what the machine offers (``CudaStatus``), so that it can be
tested on machines without a GPU; ``probe_cuda`` reads the real machine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cuda", "cpu")


@dataclass(frozen=True)
class CudaStatus:
    """What the machine's CUDA offers; *reason* says why it is not usable when it is not."""

    usable: bool
    reason: str = ""
    name: str = ""
    total_memory: int = 0
    bf16: bool = False


@dataclass(frozen=True)
class DevicePlan:
    """The device and dtype to run on, and a notice for the user when the choice was forced."""

    device: str
    dtype: str
    notice: str | None = None


def probe_cuda() -> CudaStatus:
    """Ask PyTorch whether a CUDA device can really be used (a small allocation must succeed)."""
    import torch

    if torch.version.cuda is None:
        return CudaStatus(False, "this PyTorch is a CPU-only build")
    try:
        if not torch.cuda.is_available():
            return CudaStatus(False, "no NVIDIA GPU or driver was found")
        props = torch.cuda.get_device_properties(0)
        torch.zeros(1, device="cuda")
        return CudaStatus(True, name=props.name, total_memory=props.total_memory,
                          bf16=torch.cuda.is_bf16_supported())
    except Exception as exc:  # driver and runtime mismatches surface as many error types
        return CudaStatus(False, f"the GPU cannot be used ({str(exc).splitlines()[0]})")


def plan_device(requested: str, cuda: CudaStatus) -> DevicePlan:
    """Choose device and dtype for *requested* (``auto``, ``cuda`` or ``cpu``)."""
    if requested not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}, not {requested!r}")
    if requested == "cpu":
        return DevicePlan("cpu", "float32")
    if cuda.usable:
        return DevicePlan("cuda", "bfloat16" if cuda.bf16 else "float16")
    lead = "The GPU was requested but cannot be used" if requested == "cuda" else "No usable GPU"
    return DevicePlan("cpu", "float32",
                      f"{lead} ({cuda.reason}); recognition runs on the CPU, which is slower.")
