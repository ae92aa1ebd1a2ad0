"""Which device and number format a model runs in: CUDA in bf16 or fp16 where the GPU computes it
natively, else CPU.

The choice is a pure function of what the machine offers (``CudaStatus``), so that it can be
tested on machines without a GPU; ``probe_cuda`` reads the real machine.

The number format follows the GPU's compute capability, not ``torch.cuda.is_bf16_supported()``:
that function counts emulation by default, so it is True on Turing (RTX 20, GTX 16) and Pascal
(GTX 10) cards, which have no bfloat16 units, and a bf16 encoder there runs several times slower
than fp16. Ampere (8.0) and newer have bf16 tensor cores; Volta and Turing (7.x) have fp16 tensor
cores; older cards compute half precision slowly (consumer Pascal at 1/64 of fp32), so they keep
fp32.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


class Device(enum.StrEnum):
    AUTO = "auto"
    CUDA = "cuda"
    CPU = "cpu"
    CPU_INT8 = "cpu-int8"  # the CPU, the encoder's matrix products in int8 (engine/model/quantize.py)

DEVICE_CHOICES = tuple(device.value for device in Device)
HALF_TYPES = ("bfloat16", "float16")


@dataclass(frozen=True)
class CudaStatus:
    """What the machine's CUDA offers; *reason* says why it is not usable when it is not."""

    usable: bool
    reason: str = ""
    name: str = ""
    total_memory: int = 0
    capability: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class DevicePlan:
    """The device and dtype to run on, why that dtype, and a notice when the choice was forced."""

    device: str
    dtype: str
    notice: str | None = None
    why: str = ""
    int8: bool = False  # on the CPU, the encoder's matrix products in int8 (engine/model/quantize.py)


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
                          capability=(props.major, props.minor))
    except Exception as exc:  # driver and runtime mismatches surface as many error types
        return CudaStatus(False, f"the GPU cannot be used ({str(exc).splitlines()[0]})")


def gpu_number_format(capability: tuple[int, int]) -> tuple[str, str]:
    """The dtype to run the encoder in on a GPU of this compute capability, and why."""
    major, minor = capability
    if major >= 8:
        return "bfloat16", f"compute capability {major}.{minor} has bfloat16 tensor cores"
    if major == 7:
        return "float16", (f"compute capability {major}.{minor} (Volta/Turing) has float16 tensor cores "
                           "but no native bfloat16")
    return "float32", (f"compute capability {major}.{minor} has no fast half precision, "
                       "so float32 is quicker there")


def plan_device(requested: str, cuda: CudaStatus) -> DevicePlan:
    """Choose device and dtype for *requested* (``auto``, ``cuda``, ``cpu`` or ``cpu-int8``)."""
    if requested not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}, not {requested!r}")
    if requested == Device.CPU:
        return DevicePlan("cpu", "float32", why="the CPU was chosen")
    if requested == Device.CPU_INT8:
        return DevicePlan("cpu", "float32", why="the CPU was chosen, its encoder's products in int8", int8=True)
    if cuda.usable:
        dtype, why = gpu_number_format(cuda.capability)
        return DevicePlan("cuda", dtype, why=why)
    lead = "The GPU was requested but cannot be used" if requested == "cuda" else "No usable GPU"
    return DevicePlan("cpu", "float32",
                      f"{lead} ({cuda.reason}); recognition runs on the CPU, which is slower.",
                      why=f"no usable GPU: {cuda.reason}")
