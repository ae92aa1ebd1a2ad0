"""The GPU's side of a loaded model: running out of memory told apart from other failures, the
CPU kept at most one group of encoder layers ahead of the GPU, and the weights moved off the GPU
and back while the model rests (its memory given back to other programs)."""

from __future__ import annotations

import gc
from typing import Any

# Messages of RuntimeErrors that mean the GPU had no memory for a workspace.
_ALLOCATION_FAILURES = ("out of memory", "CUBLAS_STATUS_ALLOC_FAILED", "CUBLAS_STATUS_NOT_INITIALIZED",
                        "CUDNN_STATUS_ALLOC_FAILED", "CUDNN_STATUS_NOT_INITIALIZED",
                        "can't allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether *exc* means memory ran out (PyTorch's own error, or a cuBLAS/cuDNN workspace)."""
    import torch

    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(text in str(exc) for text in _ALLOCATION_FAILURES)


def release_memory() -> None:
    """Memory no longer used given back: Python's garbage, and the GPU's cache where there is one."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def move_weights(nemo, device: str) -> None:
    """The model's weights to *device*, the phrase-boosting graphs with them."""
    import torch

    nemo.to(device=device)
    computer = getattr(nemo.decoding.decoding, "decoding_computer", None)
    multi = getattr(computer, "biasing_multi_model", None)
    if multi is not None:  # not a submodule of the model: its buffers move on their own
        multi.to(device=device)
    if device == "cuda":
        torch.cuda.synchronize()


def forget_decoder_graphs(nemo) -> None:
    """The decoder's CUDA graphs and their memory pools let go (captured again at the next
    decode: they would point at memory given back)."""
    computer = getattr(nemo.decoding.decoding, "decoding_computer", None)
    if computer is not None and hasattr(computer, "reset_cuda_graphs_state"):
        computer.reset_cuda_graphs_state()


class QueueBound:
    """Keeps the CPU at most one layer group ahead of the GPU: each mark records a CUDA event
    and waits for the one recorded before it."""

    def __init__(self) -> None:
        self._previous: Any = None  # the last layer's torch.cuda.Event

    def mark_and_wait(self) -> None:
        import torch

        event = torch.cuda.Event()
        event.record()
        if self._previous is not None:
            self._previous.synchronize()
        self._previous = event
