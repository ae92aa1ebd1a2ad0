"""What the terminal commands (``transcribe``, ``listen``, ``serve``) share: notes on stderr and
loading a model while saying so. Nothing heavy is imported until a model is asked for."""

from __future__ import annotations

import sys


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_model_saying_so(ref: str, device: str, boosting: bool = False, warm_up: bool = True):
    """Load a model for a command, telling the terminal; None (after an ``error:`` line) when
    it cannot be loaded. *warm_up* False: no warm-up on the CPU, for a command whose first
    recognition is not waited for by anyone live (on a GPU it is the CUDA graphs' self-test,
    always run)."""
    from ..engine.model import ModelError, load_model

    say(f"Loading {ref} …")
    try:
        model = load_model(str(ref), device, boosting=boosting, warm_up=warm_up)
    except ModelError as exc:
        say(f"error: {exc}")
        return None
    for notice in model.notices:
        say(f"note: {notice}")
    # Later ones too (the GPU given up for the CPU, fast decoding turned off).
    model.on_notice = lambda text: say(f"note: {text}")
    return model
