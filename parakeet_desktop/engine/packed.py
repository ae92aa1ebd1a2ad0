"""Cheaper decoder steps on the CPU, NeMo's decoding kept.

NeMo's label-looping decoding calls the prediction network (a 2-layer LSTM) once per emitted
token and the joint once per step, each on a batch of one or a few rows. At those sizes the
time goes to overheads, not arithmetic: MKL's sgemm re-packs the joint's output weight (21 MB
for parakeet-tdt-0.6b-v3) on every call, and ``nn.LSTM`` on one row goes through oneDNN's RNN
primitive, set up again at each call. Here the same arithmetic runs with weights MKL packed
once, for each batch size met (a few at most): the joint's output layer as :class:`PackedLinear`,
and the LSTM as :class:`PackedLSTM`, its input and hidden weights packed side by side so that each
layer is one matrix product and the gate arithmetic. The decoding algorithm, phrase boosting,
word times and the streaming state are NeMo's own, untouched: only the two modules are swapped
(:func:`pack_decoder`), on a model that runs on the CPU.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import torch

logger = logging.getLogger(__name__)

# Batch sizes kept packed at once (each a copy of the weight): the file path's batches of
# pieces and the streams' batches meet only a few.
_PACKED_SIZES = 4


def available() -> bool:
    return torch.backends.mkl.is_available() and hasattr(torch.ops.mkl, "_mkl_linear")


class PackedLinear(torch.nn.Module):
    """``F.linear(x, weight, bias)`` with the weight packed by MKL for the batch's row count."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(weight.detach().contiguous(), requires_grad=False)
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach().contiguous(), requires_grad=False)
        self._packed: OrderedDict[int, torch.Tensor] = OrderedDict()

    @classmethod
    def of(cls, linear: torch.nn.Linear) -> PackedLinear:
        return cls(linear.weight, linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or x.dtype != torch.float32:
            return torch.nn.functional.linear(x, self.weight, self.bias)
        rows = x.reshape(-1, x.shape[-1]).contiguous()
        count = rows.shape[0]
        packed = self._packed.get(count)
        if packed is None:
            packed = torch.ops.mkl._mkl_reorder_linear_weight(self.weight, count)
            self._packed[count] = packed
            if len(self._packed) > _PACKED_SIZES:
                self._packed.popitem(last=False)
        else:
            self._packed.move_to_end(count)
        out = torch.ops.mkl._mkl_linear(rows, packed, self.weight, self.bias, count)
        return out.reshape(*x.shape[:-1], out.shape[-1])

    def _apply(self, fn, recurse=True):  # moved or cast: packs of the old weight are useless
        self._packed.clear()
        return super()._apply(fn, recurse)


class PackedLSTM(torch.nn.Module):
    """``nn.LSTM``'s forward (sequence first, no projection, one direction, inference) with
    each layer's ``[W_ih | W_hh]`` packed as one :class:`PackedLinear`."""

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
            layers.append(PackedLinear(weight, bias))
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
    """Swap the joint's output layer and the prediction network's LSTM for packed ones; whether
    it could (MKL is there and the modules are the ones expected)."""
    if not available():
        return False
    joint_net = getattr(getattr(nemo_model, "joint", None), "joint_net", None)
    prediction = getattr(getattr(nemo_model, "decoder", None), "prediction", None)
    rnn = prediction["dec_rnn"] if isinstance(prediction, torch.nn.ModuleDict) and "dec_rnn" in prediction else None
    lstm = getattr(rnn, "lstm", None)
    if not isinstance(joint_net, torch.nn.Sequential) or not isinstance(joint_net[-1], torch.nn.Linear) \
            or not isinstance(lstm, torch.nn.LSTM):
        logger.info("The decoder is not of the shape that is packed; it runs as it is")
        return False
    try:
        packed_lstm = PackedLSTM(lstm)
    except ValueError as exc:
        logger.info("The decoder runs as it is: %s", exc)
        return False
    joint_net[-1] = PackedLinear.of(joint_net[-1])
    setattr(rnn, "lstm", packed_lstm)
    return True
