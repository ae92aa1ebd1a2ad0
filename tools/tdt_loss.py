"""A TDT (token-and-duration transducer) loss that runs on the CPU, vectorised over time steps.

NeMo's numba TDT loss is CUDA-only and its pure-PyTorch one calls ``.cuda()``, so training the
fixture model here needs this one. It computes the same forward variable as NeMo's
``TDTLossPytorch`` (without the sigma/omega refinements):

    alpha[t, u] = logsumexp over durations d of
        alpha[t-d, u]   + blank(t-d, u)  + dur(t-d, u, d)      for d > 0
        alpha[t-d, u-1] + label(t-d, u-1) + dur(t-d, u-1, d)   for every d, 0 included
    log P = logsumexp over d > 0 of alpha[T-d, U] + blank(T-d, U) + dur(T-d, U, d)

Duration-0 labels chain within one frame; that chain is a running sum along the label axis, so
each frame takes one ``logcumsumexp`` instead of a loop over labels.
"""

from __future__ import annotations

import torch

_NEG = -1e5  # stands in for log(0): -inf would make logcumsumexp's gradient NaN


def tdt_log_likelihood(logits: torch.Tensor, targets: torch.Tensor, frames: torch.Tensor,
                       labels: torch.Tensor, durations: list[int], blank: int) -> torch.Tensor:
    """log P(targets | audio) for each batch element.

    Args:
        logits: joint output [B, T, U+1, V+1+len(durations)]: token logits (blank at *blank*,
            the last token) then duration logits.
        targets: [B, U] label ids; frames: [B] encoder lengths; labels: [B] target lengths.
    """
    token_logp = torch.log_softmax(logits[..., : blank + 1], dim=-1)
    duration_logp = torch.log_softmax(logits[..., blank + 1 :], dim=-1)
    batch, steps, positions, _ = token_logp.shape
    blank_logp = token_logp[..., blank]  # [B, T, U+1]
    index = targets.clamp(min=0).unsqueeze(1).expand(batch, steps, -1).unsqueeze(-1)
    label_logp = token_logp[:, :, :-1, :].gather(-1, index).squeeze(-1)  # [B, T, U]
    zero = durations.index(0) if 0 in durations else None

    def shift_right(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.full_like(x[:, :1], _NEG), x], dim=1)

    alphas: list[torch.Tensor] = []
    for t in range(steps):
        terms = []
        for n, d in enumerate(durations):
            if d == 0 or t - d < 0:
                continue
            previous = alphas[t - d]
            terms.append(previous + blank_logp[:, t - d] + duration_logp[:, t - d, :, n])
            terms.append(shift_right(previous[:, :-1] + label_logp[:, t - d] + duration_logp[:, t - d, :-1, n]))
        if t == 0:
            start = torch.full((batch, positions), _NEG, dtype=logits.dtype)
            start[:, 0] = 0.0
            terms.append(start)
        arrived = torch.logsumexp(torch.stack(terms), dim=0)
        if zero is None:
            alphas.append(arrived)
            continue
        step = label_logp[:, t] + duration_logp[:, t, :-1, zero]
        running = torch.cat([torch.zeros_like(step[:, :1]), step.cumsum(dim=1)], dim=1)
        alphas.append(running + torch.logcumsumexp(arrived - running, dim=1))
    alpha = torch.stack(alphas, dim=1)  # [B, T, U+1]

    rows = torch.arange(batch)
    finals = []
    for n, d in enumerate(durations):
        if d == 0:
            continue
        t = frames - d
        valid = t >= 0
        t = t.clamp(min=0)
        value = alpha[rows, t, labels] + blank_logp[rows, t, labels] + duration_logp[rows, t, labels, n]
        finals.append(torch.where(valid, value, torch.full_like(value, _NEG)))
    return torch.logsumexp(torch.stack(finals), dim=0)
