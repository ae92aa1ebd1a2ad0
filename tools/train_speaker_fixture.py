"""Train the small speaker embedding model that tests use to name speakers from reference clips:
a real TitaNet (``EncDecSpeakerLabelModel``: 1D depthwise-separable convolutions with
squeeze-and-excitation, attention pooling, an angular-margin softmax over training voices) on
espeak-ng voices.

    python tools/train_speaker_fixture.py --out tests/fixtures/speaker-titanet.nemo

The voices are made as tools/train_diarization_fixture.py makes them (an espeak-ng voice, a
variant, a rate and a pitch): each training voice is a class. Held out: voices of variants
never trained on. Reported: the cosine similarity of two clips of one held-out voice (different
sentences) and of two held-out voices, their equal error rate, and the threshold between them,
which the tests use.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parakeet_desktop.engine.audio.decode import SAMPLE_RATE  # noqa: E402
from tools.fixture_corpus import held_out_sentences, random_orders, training_sentences  # noqa: E402
from tools.nemo_models import TITANET_FIXTURE, build_titanet  # noqa: E402
from tools.train_diarization_fixture import (  # noqa: E402
    HELD_OUT_VARIANTS,
    TRAINING_VARIANTS,
    padded,
    synthesize_pool,
    voices,
)

logger = logging.getLogger("train_speaker_fixture")


def clip(audio: np.ndarray, start: int, end: int, rng: random.Random, seconds: float) -> np.ndarray:
    speech = audio[start:end]
    length = int(seconds * SAMPLE_RATE)
    if len(speech) <= length:
        return speech
    first = rng.randrange(0, len(speech) - length)
    return speech[first : first + length]


def embeddings(model, clips: list[np.ndarray]) -> np.ndarray:
    import torch

    model.eval()
    with torch.inference_mode():
        signal, lengths = padded(clips)
        _, embedded = model.forward(input_signal=signal, input_signal_length=lengths)
    model.train()
    vectors = embedded.numpy()
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def held_out_report(model, pool) -> dict:
    """Similarities of same-voice and different-voice pairs of held-out clips (different sentences)."""
    firsts = embeddings(model, [utterances[0][0][utterances[0][1] : utterances[0][2]] for utterances in pool])
    seconds = embeddings(model, [utterances[1][0][utterances[1][1] : utterances[1][2]] for utterances in pool])
    matrix = firsts @ seconds.T
    same = np.diag(matrix)
    different = matrix[~np.eye(len(pool), dtype=bool)]
    thresholds = np.linspace(-1, 1, 401)
    misses = np.array([(same < t).mean() for t in thresholds])
    false_alarms = np.array([(different >= t).mean() for t in thresholds])
    best = int(np.argmin(np.abs(misses - false_alarms)))
    top1 = float(np.mean(matrix.argmax(axis=1) == np.arange(len(pool))))
    return {"same_voice_similarity": round(float(same.mean()), 3),
            "different_voice_similarity": round(float(different.mean()), 3),
            "equal_error_rate": round(float((misses[best] + false_alarms[best]) / 2), 4),
            "threshold": round(float(thresholds[best]), 3), "closest_is_same_voice": round(top1, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/speaker-titanet.nemo"))
    parser.add_argument("--voices", type=int, default=200)
    parser.add_argument("--per-voice", type=int, default=8)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    import torch
    from nemo.utils import logging as nemo_logging

    nemo_logging.setLevel(logging.ERROR)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed + 7)
    started = time.monotonic()
    texts = training_sentences(2000) + random_orders(500, 51)
    pool = synthesize_pool(voices(args.voices, TRAINING_VARIANTS, rng), texts, args.per_voice, rng)
    held_rng = random.Random(2000 + args.seed)
    held = synthesize_pool(voices(48, HELD_OUT_VARIANTS, held_rng), held_out_sentences(200, 4000), 2, held_rng)
    synthesis_minutes = (time.monotonic() - started) / 60

    model = build_titanet(TITANET_FIXTURE, classes=args.voices, seed=args.seed)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-3)
    warmup = max(1, args.steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps))))
    training_started = time.monotonic()
    losses = []
    for step in range(1, args.steps + 1):
        labels = [rng.randrange(args.voices) for _ in range(args.batch)]
        seconds = rng.uniform(1.5, 3.0)
        clips = [clip(*rng.choice(pool[label]), rng, seconds) * rng.uniform(0.3, 1.0) for label in labels]
        signal, lengths = padded(clips)
        logits, _ = model.forward(input_signal=signal, input_signal_length=lengths)
        loss = model.loss(logits=logits, labels=torch.tensor(labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(float(loss))
        if step % 50 == 0:
            logger.info("step %d loss %.3f held-out %s", step, float(np.mean(losses[-50:])),
                        held_out_report(model, held))
    training_minutes = (time.monotonic() - training_started) / 60
    model.eval()
    model.save_to(str(args.out))
    report = {"model": args.out.name, "class": "EncDecSpeakerLabelModel",
              "parameters": sum(p.numel() for p in model.parameters()), "shape": TITANET_FIXTURE.__dict__,
              "training_voices": args.voices, "utterances_per_voice": args.per_voice,
              "held_out_variants": HELD_OUT_VARIANTS, "held_out_voices": len(held), "steps": args.steps,
              "batch": args.batch, "learning_rate": args.lr, "synthesis_minutes": round(synthesis_minutes, 1),
              "training_minutes": round(training_minutes, 1), **held_out_report(model, held),
              "size_bytes": args.out.stat().st_size}
    args.out.with_suffix(".training.json").write_text(json.dumps(report, indent=2) + "\n")
    logger.info("%s", report)


if __name__ == "__main__":
    main()
