"""The encoder's matrix products in int8 on the CPU (a setting, off by default).

PyTorch's dynamic quantization turns each ``nn.Linear`` of the encoder (the feed-forward
layers, the attention projections, the subsampling's output layer) into one whose weight is
held in int8 and whose input is quantized per call: about a quarter of the weight bytes and
several times fewer cycles for those products. The convolutions (the subsampling's, the conv
modules' pointwise and depthwise ones) stay in float32: quantized convolutions were slow in the
measurements behind this setting, and the attention's own products of activations cannot be
quantized ahead of time. The decoder and joint are untouched (engine/model/packed.py packs them).

Off by default: int8 exports of Parakeet v3 were reported to lose accuracy in some languages and
past about 20 s of audio; bench/int8.py measures what it costs on the speech we have.
"""

from __future__ import annotations

import functools
import logging
import warnings

from ...messages import first_line

logger = logging.getLogger(__name__)


@functools.cache
def available() -> bool:
    """Whether this PyTorch runs int8 products on this CPU: it has an x86 or Arm quantized engine
    and a small quantized layer computes what its float32 original does (FBGEMM, behind the x86
    engine, needs AVX2; asked once, the reason logged when not)."""
    import torch

    if not any(engine in torch.backends.quantized.supported_engines for engine in ("x86", "fbgemm", "qnnpack")):
        logger.info("This PyTorch has no quantized engine for this CPU; int8 is not offered")
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torch.ao.quantization import quantize_dynamic

            linear = torch.nn.utils.skip_init(torch.nn.Linear, 8, 4)  # no random draw: known numbers
            linear.weight.data = torch.linspace(-0.5, 0.5, 32).reshape(4, 8)
            linear.bias.data = torch.zeros(4)
            layer, x = torch.nn.Sequential(linear), torch.linspace(-1, 1, 16).reshape(2, 8)
            quantized = quantize_dynamic(layer, {torch.nn.Linear}, dtype=torch.qint8)
            with torch.inference_mode():
                if torch.allclose(quantized(x), layer(x), atol=0.05):
                    return True
        logger.info("PyTorch's int8 products compute wrong numbers on this CPU; int8 is not offered")
    except (RuntimeError, AssertionError) as exc:
        logger.info("PyTorch's int8 products do not run on this CPU (%s); int8 is not offered", first_line(exc))
    return False


def quantize_encoder(nemo_model) -> int:
    """Swap the encoder's float32 ``nn.Linear`` layers for dynamically quantized int8 ones, in
    place; the number swapped (0 when this PyTorch cannot)."""
    import torch

    if not available():
        return 0
    encoder = nemo_model.encoder
    if any(p.dtype != torch.float32 for p in encoder.parameters()):
        return 0  # a half-precision encoder (a GPU's) is not quantized
    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        before = sum(isinstance(m, torch.nn.Linear) for m in encoder.modules())
        quantize_dynamic(encoder, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    after = sum(isinstance(m, torch.nn.Linear) for m in encoder.modules())
    logger.info("The encoder's %d linear layers run in int8", before - after)
    return before - after
