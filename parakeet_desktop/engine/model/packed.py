"""Cheaper matrix products on the CPU, NeMo's modules and decoding kept.

PyTorch's ``nn.Linear`` on the CPU calls MKL's sgemm, which on AMD processors takes a slower
path than the machine offers (measured on a two-core AMD EPYC with AVX-512: 170-190 GFLOPS for
the encoder's products, where oneDNN reached 330-390) and, for the decoder's one- or few-row
products, re-packs the weight at every call (the joint's output weight is 21 MB for
parakeet-tdt-0.6b-v3): 1.7 ms for one row and 5 ms for three, where oneDNN on a weight it
packed once took 0.2-0.3 ms for one to five rows. ``nn.LSTM`` on one row goes through oneDNN's
RNN primitive, set up again at each call.

So on a model that runs on the CPU in float32, every ``nn.Linear`` of the encoder, the joint's
output layer and the prediction network's LSTM are oneDNN inner products
(``torch.ops.mkldnn._linear_pointwise``, the op PyTorch's own compiler emits for linear layers
on the CPU): :class:`OneDnnLinear` on the encoder's weights as they are (no copy), and on a
copy packed in oneDNN's layout for the decoder's small products; :class:`PackedLSTM` with each
layer's input and hidden weights side by side, one product a layer plus the gate arithmetic.
Results differ from MKL's in the last bits only (the sums run in another order). NeMo's modules
around them, its decoding algorithm, phrase boosting, word times and the streaming state are
untouched.

oneDNN's primitives depend on the CPU: on an AMD EPYC with AVX2 and no AVX-512 there is no
bfloat16 inner product ("could not create a primitive descriptor"), and on one with AVX-512 and
BF16 there is none for float16 (it needs AVX-512 FP16 or AVX-NE-CONVERT). So each number format
is tried once on a small product before anything is swapped (:func:`available`), and a product
that oneDNN still refuses at run time falls back to PyTorch's own and is not tried again: the
CPU decides the speed, never whether a transcription finishes. ``ONEDNN_MAX_CPU_ISA=AVX2`` makes
a newer CPU answer as an AVX2-only one (the tests use it).
"""

from __future__ import annotations

import logging

import torch

from ...messages import first_line

logger = logging.getLogger(__name__)

# The row count a packed weight is laid out for; measured as fast for 1 to 16 rows as a weight
# packed for each count (the decoder's batches: one row a piece, 16 pieces at most).
_PACKED_FOR_ROWS = 16


# Whether oneDNN's inner product runs on this CPU, by number format: asked once each
# (available), and set to False when a product is refused at run time all the same (refused).
_answers: dict[torch.dtype, bool] = {}


def available(dtype: torch.dtype = torch.float32) -> bool:
    """Whether this PyTorch has oneDNN's inner product for *dtype* on this CPU, on plain and on
    packed weights, and it computes a small product right; asked once, the reason logged when not."""
    answer = _answers.get(dtype)
    if answer is None:
        answer = _answers[dtype] = _try_product(dtype)
    return answer


def _try_product(dtype: torch.dtype) -> bool:
    try:
        weight, x = torch.arange(6.0).reshape(3, 2).to(dtype), torch.ones(1, 2, dtype=dtype)
        packed = torch.ops.mkldnn._reorder_linear_weight(weight, 1)
        plain = torch.ops.mkldnn._linear_pointwise(x, weight, None, "none", [], "")
        blocked = torch.ops.mkldnn._linear_pointwise(x, packed, None, "none", [], "")
        if torch.equal(plain, x @ weight.t()) and torch.equal(blocked, plain):
            return True
        logger.info("oneDNN's %s inner product computes wrong numbers here; NeMo's modules run in %s",
                    _name(dtype), _name(dtype))
    except (AttributeError, RuntimeError) as exc:
        logger.info("oneDNN has no %s inner product for this CPU (%s); NeMo's modules run in %s",
                    _name(dtype), first_line(exc), _name(dtype))
    return False


def refused(dtype: torch.dtype, exc: RuntimeError) -> None:
    """oneDNN refused a *dtype* product that its first try allowed (another shape, another
    primitive): raise *exc* again unless it is oneDNN's, else log it once and use PyTorch's
    products for that format from now on."""
    message = str(exc).lower()
    if not any(word in message for word in ("primitive", "onednn", "mkldnn", "dnnl")):
        raise exc
    if _answers.get(dtype) is not False:
        logger.warning("oneDNN refused a %s product on this CPU (%s); PyTorch's products run instead",
                       _name(dtype), first_line(exc))
    _answers[dtype] = False


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           post_op: str = "none", fallback_weight: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear`` of the rows of *x* (2-D, on the CPU) as oneDNN's inner product where this CPU
    has one for its number format, else PyTorch's (on *fallback_weight* where *weight* is a
    packed copy); *post_op* "swish" applies ``x * sigmoid(x)`` to the result."""
    if available(x.dtype):
        try:
            return torch.ops.mkldnn._linear_pointwise(x, weight, bias, post_op, [], "")
        except RuntimeError as exc:
            refused(x.dtype, exc)
    out = torch.nn.functional.linear(x, weight if fallback_weight is None else fallback_weight, bias)
    return torch.nn.functional.silu(out) if post_op == "swish" else out


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


class OneDnnLinear(torch.nn.Module):
    """``F.linear(x, weight, bias)`` as a oneDNN inner product, for float32 on the CPU (anything
    else takes the plain product). With *packed*, the product runs on a copy of the weight laid
    out for oneDNN (made at the first call): for small products, called often. *post_op* "swish"
    applies ``x * sigmoid(x)`` to the result inside the product."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, packed: bool = False,
                 post_op: str = "none") -> None:
        super().__init__()
        if post_op not in ("none", "swish"):
            raise ValueError(f"no post-op {post_op!r}")
        self.post_op = post_op
        self.weight = torch.nn.Parameter(weight.detach().contiguous(), requires_grad=False)
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach().contiguous(), requires_grad=False)
        self.packed = packed
        self._packed: torch.Tensor | None = None

    @classmethod
    def of(cls, linear: torch.nn.Linear, packed: bool = False) -> OneDnnLinear:
        return cls(linear.weight, linear.bias, packed)

    def extra_repr(self) -> str:
        out_features, in_features = self.weight.shape
        return (f"in_features={in_features}, out_features={out_features}, bias={self.bias is not None}, "
                f"packed={self.packed}, post_op={self.post_op}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or x.dtype != torch.float32 or self.weight.dtype != torch.float32 \
                or torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad) \
                or not available(torch.float32):
            out = torch.nn.functional.linear(x, self.weight, self.bias)
            return torch.nn.functional.silu(out) if self.post_op == "swish" else out
        weight: torch.Tensor = self.weight
        if self.packed:
            if self._packed is None:
                self._packed = torch.ops.mkldnn._reorder_linear_weight(self.weight.detach(), _PACKED_FOR_ROWS)
            weight = self._packed
        rows = x.reshape(-1, x.shape[-1])
        out = linear(rows, weight, self.bias, self.post_op, fallback_weight=self.weight)
        return out.reshape(*x.shape[:-1], out.shape[-1])

    def _apply(self, fn, recurse=True):  # moved or cast: the packed copy is of the old weight
        self._packed = None
        return super()._apply(fn, recurse)


class PackedLSTM(torch.nn.Module):
    """``nn.LSTM``'s forward (sequence first, no projection, one direction, inference) with
    each layer's ``[W_ih | W_hh]`` side by side as one :class:`OneDnnLinear`."""

    def __init__(self, lstm: torch.nn.LSTM) -> None:
        super().__init__()
        if lstm.bidirectional or lstm.proj_size or lstm.batch_first:
            raise ValueError("only a one-way, sequence-first LSTM without projection is packed")
        self.hidden_size = lstm.hidden_size
        self.num_layers = lstm.num_layers
        layers = []
        for n in range(lstm.num_layers):
            weight = torch.cat([getattr(lstm, f"weight_ih_l{n}"), getattr(lstm, f"weight_hh_l{n}")], dim=1)
            bias = None
            if lstm.bias:
                bias = getattr(lstm, f"bias_ih_l{n}") + getattr(lstm, f"bias_hh_l{n}")
            layers.append(OneDnnLinear(weight, bias, packed=True))
        self.layers = torch.nn.ModuleList(layers)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        steps, batch, _ = x.shape
        if state is None:
            zeros = x.new_zeros(self.num_layers, batch, self.hidden_size)
            state = (zeros, zeros)
        hidden, cell = list(state[0].unbind(0)), list(state[1].unbind(0))
        outputs = []
        for t in range(steps):
            layer_input = x[t]
            for n, layer in enumerate(self.layers):
                gates = layer(torch.cat([layer_input, hidden[n]], dim=1))
                i, f, g, o = gates.chunk(4, dim=1)
                cell[n] = torch.sigmoid(f) * cell[n] + torch.sigmoid(i) * torch.tanh(g)
                hidden[n] = torch.sigmoid(o) * torch.tanh(cell[n])
                layer_input = hidden[n]
            outputs.append(layer_input)
        return torch.stack(outputs), (torch.stack(hidden), torch.stack(cell))


def pack_decoder(nemo_model) -> bool:
    """Swap the joint's output layer and the prediction network's LSTM for the modules above;
    whether it could (oneDNN is there and the modules are the ones expected)."""
    if not available():
        return False
    joint_net = getattr(getattr(nemo_model, "joint", None), "joint_net", None)
    prediction = getattr(getattr(nemo_model, "decoder", None), "prediction", None)
    rnn = prediction["dec_rnn"] if isinstance(prediction, torch.nn.ModuleDict) and "dec_rnn" in prediction else None
    lstm = getattr(rnn, "lstm", None)
    if not isinstance(joint_net, torch.nn.Sequential) or not isinstance(joint_net[-1], torch.nn.Linear) \
            or rnn is None or not isinstance(lstm, torch.nn.LSTM):
        logger.info("The decoder is not of the shape that is packed; it runs as it is")
        return False
    try:
        packed_lstm = PackedLSTM(lstm)
    except ValueError as exc:
        logger.info("The decoder runs as it is: %s", exc)
        return False
    joint_net[-1] = OneDnnLinear.of(joint_net[-1], packed=True)
    rnn.lstm = packed_lstm
    return True


def pack_encoder(nemo_model) -> int:
    """Swap every float32 ``nn.Linear`` of the encoder for a :class:`OneDnnLinear` on the same
    weights; the number swapped."""
    if not available():
        return 0
    swapped = 0
    for parent in list(nemo_model.encoder.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is torch.nn.Linear and child.weight.dtype == torch.float32:
                setattr(parent, name, OneDnnLinear.of(child))
                swapped += 1
    return swapped
