"""The Conformer encoder's work without waste on the CPU, NeMo's arithmetic kept.

Measured on a 30 s piece of a parakeet-tdt-0.6b-v3 twin (two cores, after the products went to
oneDNN, engine/packed.py), NeMo's encoder spends a third of its time outside its matrix products:

- the subsampling multiplies every layer's output by an expanded mask of ones where a piece has
  no padding (eight times over up to 25 M values: 60-80 ms a piece); here only the padded tail
  of each row is set to zero, which is what the mask does;
- the attention adds a column of zeros to its position scores and copies them to shift them
  (``rel_shift``: 35-50 ms), where the shift is a strided view of the same numbers; it masks the
  scores twice where nothing is masked (30 ms); and it adds and scales in new tensors;
- the feed-forward's swish is a pass of its own over four times the model's width, where oneDNN
  applies it inside the product.

The forwards below do the same operations in the same order on the same numbers (the swish
inside the product differs in the last bits, as any change of kernel does); under autocast, with
PyTorch's fused attention chosen, or while training, NeMo's own attention runs. The loader
applies them to a model loaded on the CPU (engine/loader.py).
"""

from __future__ import annotations

import logging

import torch
from nemo.collections.asr.parts.submodules.multi_head_attention import INF_VAL, RelPositionMultiHeadAttention
from nemo.collections.asr.parts.submodules.subsampling import MaskedConvSequential, calculate_conv_output_size
from nemo.collections.asr.parts.utils.activations import Swish

from . import packed

logger = logging.getLogger(__name__)


def _zero_tails(x: torch.Tensor, lengths: torch.Tensor, fresh: bool) -> torch.Tensor:
    """``x`` ``[B, C, T, F]`` with each row's frames from its length on set to zero; *fresh*: x
    may be written (else a row to mask makes a copy first)."""
    frames = x.shape[2]
    for row, length in enumerate(lengths.long().tolist()):
        if length < frames:
            if not fresh:
                x, fresh = x.clone(), True
            x[row, :, max(length, 0):] = 0
    return x


class TailMaskedConvs(MaskedConvSequential):
    """``MaskedConvSequential.forward``: the layers in turn, the frames past each row's length
    zeroed before each layer and after the last, lengths carried through strided layers."""

    def forward(self, x: torch.Tensor, lengths: torch.Tensor):
        x = x.unsqueeze(1)  # (batch, 1, time, features)
        current = lengths.clone().float()
        x = _zero_tails(x, current, fresh=False)  # the caller's features are not written
        for layer in self:
            x = layer(x)
            if hasattr(layer, "stride") and layer.stride != (1, 1):
                padding = (layer._left_padding, layer._right_padding) if hasattr(layer, "_left_padding") \
                    else layer.padding
                current = calculate_conv_output_size(current, layer.kernel_size[0], layer.stride[0], padding)
            x = _zero_tails(x, current, fresh=True)
        return x, current.long()


def _shifted(bd: torch.Tensor, keys: int, rel_shift) -> torch.Tensor:
    """NeMo's ``rel_shift(bd)[..., :keys]`` for position scores ``[B, H, T, P]``: as a view where
    the shift reads inside each row (P >= T + keys - 1), else NeMo's copy."""
    batch, heads, queries, positions = bd.shape
    if not bd.is_contiguous() or positions < queries + keys - 1:
        return rel_shift(bd)[:, :, :, :keys]
    # NeMo pads a zero column and reads the rows on by one: element (i, j) of the shifted
    # scores is bd[i, T - 1 - i + j], at i * P + (T - 1 - i) + j = (T - 1) + i * (P - 1) + j
    stride = bd.stride()
    return bd.as_strided((batch, heads, queries, keys), (stride[0], stride[1], positions - 1, 1),
                         bd.storage_offset() + queries - 1)


class LeanRelPositionAttention(RelPositionMultiHeadAttention):
    """``RelPositionMultiHeadAttention`` with the position scores shifted as a view, masks
    applied only where something is masked and the scores summed and scaled in place."""

    def forward(self, query, key, value, mask, pos_emb, cache=None):
        if torch.is_autocast_enabled() or self.training or self.use_pytorch_sdpa:
            return super().forward(query, key, value, mask, pos_emb, cache=cache)
        key, value, query, cache = self.update_cache(key=key, value=value, query=query, cache=cache)
        q, k, v = self.forward_qkv(query, key, value)
        q = q.transpose(1, 2)  # (batch, time1, head, d_k)
        p = self.linear_pos(pos_emb).view(pos_emb.size(0), -1, self.h, self.d_k).transpose(1, 2)
        q_with_bias_u = (q + self.pos_bias_u).transpose(1, 2)
        q_with_bias_v = (q + self.pos_bias_v).transpose(1, 2)
        matrix_bd = _shifted(torch.matmul(q_with_bias_v, p.transpose(-2, -1)), k.size(-2), self.rel_shift)
        scores = torch.matmul(q_with_bias_u, k.transpose(-2, -1)).add_(matrix_bd).div_(self.s_d_k)
        del matrix_bd
        if mask is not None and bool(mask.any()):
            mask = mask.unsqueeze(1)  # (batch, 1, time1, time2)
            attn = torch.softmax(scores.masked_fill_(mask, -INF_VAL), dim=-1).masked_fill_(mask, 0.0)
        else:
            attn = torch.softmax(scores, dim=-1)
        del scores
        out = torch.matmul(attn, v).transpose(1, 2).reshape(value.size(0), -1, self.h * self.d_k)
        out = self.linear_out(out)
        return out if cache is None else (out, cache)


def _fuse_swish(feed_forward) -> bool:
    """The feed-forward's first product with its swish inside (oneDNN's post-op)."""
    first = getattr(feed_forward, "linear1", None)
    if not isinstance(first, packed.OneDnnLinear) or first.post_op != "none" \
            or type(getattr(feed_forward, "activation", None)) not in (Swish, torch.nn.SiLU):
        return False
    feed_forward.linear1 = packed.OneDnnLinear(first.weight, first.bias, first.packed, post_op="swish")
    feed_forward.activation = torch.nn.Identity()
    return True


def lean_encoder(nemo_model) -> int:
    """Give the encoder's subsampling convolutions and relative-position attentions the
    forwards above (same modules, same weights) and fuse its feed-forwards' swish into their
    products (after ``packed.pack_encoder``); the number of modules changed."""
    encoder, changed = nemo_model.encoder, 0
    convs = getattr(getattr(encoder, "pre_encode", None), "conv", None)
    if type(convs) is MaskedConvSequential:
        convs.__class__ = TailMaskedConvs
        changed += 1
    for layer in getattr(encoder, "layers", []):
        attention = getattr(layer, "self_attn", None)
        if type(attention) is RelPositionMultiHeadAttention:
            attention.__class__ = LeanRelPositionAttention
            changed += 1
        for name in ("feed_forward1", "feed_forward2"):
            changed += _fuse_swish(getattr(layer, name, None))
    logger.debug("Leaner encoder modules on the CPU: %d", changed)
    return changed
