"""The CPU TDT loss used to train the fixture model agrees with brute-force path enumeration."""

from __future__ import annotations

import math

import torch

from tools.tdt_loss import tdt_log_likelihood


def _enumerate(token_logp, duration_logp, target, frames, durations, blank):
    """Sum of the probabilities of every TDT path, by recursion over (frame, labels emitted)."""

    def walk(t, u):
        if t == frames and u == len(target):
            return [0.0]
        if t >= frames:
            return []
        paths = []
        for n, d in enumerate(durations):
            if d > 0 and (t + d < frames or (t + d == frames and u == len(target))):
                step = float(token_logp[t, u, blank] + duration_logp[t, u, n])
                paths += [step + rest for rest in walk(t + d, u)]
            if u < len(target) and t + d < frames:
                step = float(token_logp[t, u, target[u]] + duration_logp[t, u, n])
                paths += [step + rest for rest in walk(t + d, u + 1)]
        return paths

    scores = walk(0, 0)
    top = max(scores)
    return top + math.log(sum(math.exp(s - top) for s in scores))


def test_matches_enumeration_of_all_paths():
    torch.manual_seed(0)
    durations, vocab = [0, 1, 2, 3], 4
    blank = vocab
    targets = torch.tensor([[1, 3, 0], [2, 2, 1]])
    frames = torch.tensor([4, 5])
    labels = torch.tensor([2, 3])
    logits = torch.randn(2, 5, 4, vocab + 1 + len(durations), dtype=torch.float64)
    ours = tdt_log_likelihood(logits, targets, frames, labels, durations, blank)
    for b in range(2):
        token_logp = torch.log_softmax(logits[b, ..., : blank + 1], -1)
        duration_logp = torch.log_softmax(logits[b, ..., blank + 1 :], -1)
        expected = _enumerate(token_logp, duration_logp, targets[b, : labels[b]].tolist(),
                              int(frames[b]), durations, blank)
        assert abs(float(ours[b]) - expected) < 1e-9


def test_gradient_is_finite():
    torch.manual_seed(1)
    logits = torch.randn(3, 6, 4, 10, requires_grad=True)
    targets = torch.tensor([[1, 2, 3], [0, 0, 0], [4, 1, 0]])
    value = tdt_log_likelihood(logits, targets, torch.tensor([6, 3, 5]), torch.tensor([3, 0, 2]),
                               [0, 1, 2, 3, 4], blank=4)
    value.sum().backward()
    assert torch.isfinite(logits.grad).all()
