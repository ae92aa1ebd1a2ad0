"""The Conformer encoder's work without waste on the CPU, NeMo's arithmetic kept.

Measured on a 30 s piece of a parakeet-tdt-0.6b-v3 twin (two cores, after the products went to
oneDNN, engine/model/packed.py), NeMo's encoder spends a third of its time outside its matrix products:

- the subsampling multiplies every layer's output by an expanded mask of ones where a piece has
  no padding (eight times over up to 25 M values: 60-80 ms a piece); here only the padded tail
  of each row is set to zero, which is what the mask does. Its convolutions (one input channel,
  then depthwise) took 155 ms in PyTorch's default layout, 57 ms with channels last;
- the attention's batched products go to MKL (140 GFLOPS where oneDNN's reach 300); it adds a
  column of zeros to its position scores and copies them to shift them (``rel_shift``: 35-50
  ms), where the shift is a strided view of the same numbers; it masks the scores twice where
  nothing is masked (30 ms); and it adds and scales in new tensors;
- the feed-forward's swish is a pass of its own over four times the model's width, where oneDNN
  applies it inside the product.

The forwards below do the same operations in the same order on the same numbers (the swish
inside the product differs in the last bits, as any change of kernel does); under autocast, with
PyTorch's fused attention chosen, or while training, NeMo's own attention runs. The loader
applies them to a model loaded on the CPU (engine/model/loader.py).
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
        x = x.contiguous(memory_format=torch.channels_last)  # as the convolutions' weights (below)
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


# Keys (encoder frames, 80 ms each for Parakeet) from which the attention runs head by head:
# measured on the v3 twin, the loop cost 10-20 ms an encoder pass more for 0.5-4 s of audio and
# saved 14 ms at 8 s, 60-90 ms at 30 s.
HEAD_BY_HEAD_FROM = 75


def _product(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x @ weight.T`` for contiguous matrices: oneDNN's inner product where this CPU has one
    for their number format (engine/model/packed.py)."""
    return packed.linear(x, weight)


def _attention_weights(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """NeMo's ``forward_attention`` up to the value product, on *scores* in place: masked keys
    at ``-INF_VAL`` before the softmax over the keys and zero after it."""
    if mask is None:
        return torch.softmax(scores, dim=-1)
    return torch.softmax(scores.masked_fill_(mask, -INF_VAL), dim=-1).masked_fill_(mask, 0.0)


def _by_head(x: torch.Tensor) -> torch.Tensor:
    """``[B, T, H, D]`` as ``[B, H, T, D]``, each head's rows together."""
    return x.permute(0, 2, 1, 3).contiguous()


class LeanRelPositionAttention(RelPositionMultiHeadAttention):
    """``RelPositionMultiHeadAttention`` head by head (from ``HEAD_BY_HEAD_FROM`` keys on): each
    head's products as oneDNN inner products on contiguous rows (PyTorch's batched products go to
    MKL, half as fast here); the position scores shifted as a view, masks applied only where
    something is masked, the scores summed and scaled in place."""

    def forward(self, query, key, value, mask, pos_emb, cache=None):
        if torch.is_autocast_enabled() or self.training or self.use_pytorch_sdpa:
            return super().forward(query, key, value, mask, pos_emb, cache=cache)
        key, value, query, cache = self.update_cache(key=key, value=value, query=query, cache=cache)
        if mask is not None and not bool(mask.any()):
            mask = None  # nothing masked: masking would change no score
        if key.size(1) < HEAD_BY_HEAD_FROM:
            out = self._all_heads(query, key, value, mask, pos_emb)
            return out if cache is None else (out, cache)
        batch, heads, d_k = query.size(0), self.h, self.d_k
        q = self.linear_q(query).view(batch, -1, heads, d_k)
        k = _by_head(self.linear_k(key).view(batch, -1, heads, d_k))
        v_t = self.linear_v(value).view(batch, -1, heads, d_k).permute(0, 2, 3, 1).contiguous()  # [B, H, D, T2]
        p = _by_head(self.linear_pos(pos_emb).view(pos_emb.size(0), -1, heads, d_k))
        q_with_bias_u, q_with_bias_v = _by_head(q + self.pos_bias_u), _by_head(q + self.pos_bias_v)
        out = query.new_empty(batch, q.size(1), heads, d_k)
        for b in range(batch):
            for h in range(heads):
                matrix_bd = _product(q_with_bias_v[b, h], p[b if p.size(0) > 1 else 0, h])
                matrix_bd = _shifted(matrix_bd[None, None], k.size(2), self.rel_shift)[0, 0]
                scores = _product(q_with_bias_u[b, h], k[b, h]).add_(matrix_bd).div_(self.s_d_k)
                attn = _attention_weights(scores, None if mask is None else mask[b])
                out[b, :, h] = _product(attn, v_t[b, h])
        out = self.linear_out(out.view(batch, -1, heads * d_k))
        return out if cache is None else (out, cache)

    def _all_heads(self, query, key, value, mask, pos_emb):
        """The heads' products batched (PyTorch's), for a few keys: below ``HEAD_BY_HEAD_FROM``
        the loop over heads costs more than the products save."""
        q, k, v = self.forward_qkv(query, key, value)
        q = q.transpose(1, 2)  # (batch, time1, head, d_k)
        p = self.linear_pos(pos_emb).view(pos_emb.size(0), -1, self.h, self.d_k).transpose(1, 2)
        q_with_bias_u = (q + self.pos_bias_u).transpose(1, 2)
        q_with_bias_v = (q + self.pos_bias_v).transpose(1, 2)
        matrix_bd = _shifted(torch.matmul(q_with_bias_v, p.transpose(-2, -1)), k.size(-2), self.rel_shift)
        scores = torch.matmul(q_with_bias_u, k.transpose(-2, -1)).add_(matrix_bd).div_(self.s_d_k)
        attn = _attention_weights(scores, None if mask is None else mask.unsqueeze(1))  # (batch, 1, time1, time2)
        out = torch.matmul(attn, v).transpose(1, 2).reshape(value.size(0), -1, self.h * self.d_k)
        return self.linear_out(out)


def _fuse_swish(feed_forward) -> bool:
    """The feed-forward's first product with its swish inside (oneDNN's post-op)."""
    first = getattr(feed_forward, "linear1", None)
    if not isinstance(first, packed.OneDnnLinear) or first.post_op != "none" \
            or type(getattr(feed_forward, "activation", None)) not in (Swish, torch.nn.SiLU):
        return False
    first.post_op = "swish"
    feed_forward.activation = torch.nn.Identity()
    return True


def lean_encoder(nemo_model) -> int:
    """Give the encoder's subsampling convolutions and relative-position attentions the
    forwards above (same modules, same weights) and fuse its feed-forwards' swish into their
    products (after ``packed.pack_encoder``); the number of modules changed."""
    encoder, changed = nemo_model.encoder, 0
    convs = getattr(getattr(encoder, "pre_encode", None), "conv", None)
    if isinstance(convs, MaskedConvSequential) and type(convs) is MaskedConvSequential:
        convs.__class__ = TailMaskedConvs
        for conv in convs:
            if isinstance(conv, torch.nn.Conv2d):
                conv.weight.data = conv.weight.data.contiguous(memory_format=torch.channels_last)
        changed += 1
    weights = next(encoder.parameters(), None)
    # Head by head the attention is oneDNN's products or nothing: NeMo's batched ones are faster
    # than PyTorch's one at a time where oneDNN has no product for the encoder's number format.
    lean_attention = weights is not None and packed.available(weights.dtype)
    for layer in getattr(encoder, "layers", []):
        attention = getattr(layer, "self_attn", None)
        if lean_attention and type(attention) is RelPositionMultiHeadAttention:
            attention.__class__ = LeanRelPositionAttention
            changed += 1
        for name in ("feed_forward1", "feed_forward2"):
            changed += _fuse_swish(getattr(layer, name, None))
    logger.debug("Leaner encoder modules on the CPU: %d", changed)
    return changed


def for_the_cpu(nemo_model) -> None:
    """The CPU's modules for a model on the CPU, loaded there or moved from the GPU (after any int8
    quantization of its encoder, engine/model/quantize.py): oneDNN's products (engine/model/packed.py) for what
    is still float32, then the forwards above, the attention's only where this CPU has oneDNN's
    products in the encoder's number format (a half-precision encoder on a CPU without its
    instructions keeps NeMo's)."""
    packed.pack_decoder(nemo_model)
    packed.pack_encoder(nemo_model)
    lean_encoder(nemo_model)
