"""Train the small diarizer that tests use to check who spoke: a real Sortformer
(``SortformerEncLabelModel``: FastConformer encoder with 8x subsampling, Transformer encoder, one
sigmoid per speaker in order of arrival, 80 ms frames) on synthetic conversations of espeak-ng
voices.

    python tools/train_diarization_fixture.py --out tests/fixtures/diarization-sortformer.nemo

A voice is an espeak-ng voice with a variant, a rate and a pitch. A pool of voices each says a
few sentences of the fixture grammar (tools/fixture_corpus.py); conversations of two to four of
them, each of its own variant (two people, two timbres), are put together on the fly for every
batch: turns in random order, pauses of 0.1-1.5 s, about one turn in seven overlapping the one
before by 0.2-1 s, levels and a little noise varied. A turn's label spans its speech (espeak's
leading and trailing silence trimmed). Training uses NeMo's own losses for Sortformer (BCE
against arrival-time-sorted and permutation-invariant targets, half each), offline (the whole
conversation at once). ``--encoder-from`` starts the FastConformer from the speech fixture's (as
NVIDIA starts Sortformer from a pretrained encoder); ``--voice-head`` also classifies the
encoder's single-speaker frames by voice, through a head used in training only.

Held out: voices of espeak variants never used in training, saying sentences never used in
training, scored as the app diarizes (whole up to 90 s; streamed beyond, with the speaker cache)
with NeMo's diarization error rate (its md-eval port), a collar of 0.25 s, overlap included. The
best checkpoint is written to ``--out`` each time it improves, with a report beside it
(``<out>.training.json``).

On the two-core build machine: about a minute of synthesis, and steps of about 1.5 s.
``--steps 3 --voices 12`` is a smoke test of about a minute.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parakeet_desktop.engine.audio.decode import SAMPLE_RATE  # noqa: E402
from tools.fixture_corpus import held_out_sentences, random_orders, training_sentences  # noqa: E402
from tools.nemo_models import SORTFORMER_FIXTURE, build_sortformer  # noqa: E402
from tools.speech import speak  # noqa: E402

logger = logging.getLogger("train_diarization_fixture")

FRAME_SECONDS = 0.08  # Sortformer's output frame: 10 ms features, 8x subsampling
SPEAKERS = 4
BASE_VOICES = ("en-us", "en-gb", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
# espeak-ng's voice variants (its voices/!v folder), minus whispers and effects.
TRAINING_VARIANTS = """m1 m2 m3 m4 m5 m6 m7 m8 f1 f2 f3 f4 f5 klatt klatt2 klatt3 klatt4 Alex Alicia Andy
Annie Denis Diogo Gene Henrique Hugo Jacky Lee Marco Mario Michael Mike Nguyen adam anika announcer
antonio aunty belinda benjamin boris caleb david ed edward grandma grandpa gustave iven iven2 john
kaukovalta linda max michel miguel norbert pablo paul pedro quincy rob robert sandro shelby steph
travis victor zac""".split()
HELD_OUT_VARIANTS = "Andrea Gene2 Mr serious edward2 iven3 iven4 klatt5 klatt6 marcelo steph2 steph3".split()
VOICE_WEIGHT = 0.3  # the training-only voice classifier's share of the loss


@dataclass(frozen=True)
class Voice:
    name: str  # espeak-ng voice+variant
    speed: int
    pitch: int


def voices(count: int, variants: list[str], rng: random.Random) -> list[Voice]:
    return [Voice(f"{rng.choice(BASE_VOICES)}+{variants[i % len(variants)]}", rng.randint(135, 195),
                  rng.randint(25, 75)) for i in range(count)]


def trimmed(audio: np.ndarray) -> tuple[np.ndarray, int, int]:
    """The utterance at a peak of 0.5, and where its speech starts and ends (10 ms frames above
    2 % of the peak level)."""
    audio = (0.5 * audio / max(1e-6, float(np.abs(audio).max()))).astype(np.float32)
    hop = SAMPLE_RATE // 100
    levels = np.sqrt(np.mean(audio[: len(audio) // hop * hop].reshape(-1, hop) ** 2, axis=1))
    loud = np.flatnonzero(levels > 0.02 * levels.max())
    return audio, int(loud[0]) * hop, int(loud[-1] + 1) * hop


def synthesize_pool(pool_voices: list[Voice], texts: list[str], per_voice: int, rng: random.Random,
                    workers: int = 3) -> list[list[tuple[np.ndarray, int, int]]]:
    jobs = [(v, rng.choice(texts)) for v in pool_voices for _ in range(per_voice)]
    with ThreadPoolExecutor(workers) as pool:
        spoken = list(pool.map(lambda job: trimmed(speak(job[1], job[0].name, job[0].speed, job[0].pitch)), jobs))
    return [spoken[i * per_voice : (i + 1) * per_voice] for i in range(len(pool_voices))]


def conversation(pool, seconds: float, rng: random.Random, np_rng: np.random.Generator,
                 speakers: int | None = None, voices_out: list[int] | None = None,
                 variants: int | None = None, weights: tuple[float, float, float] = (4, 3, 2)
                 ) -> tuple[np.ndarray, list[tuple[float, float, int]]]:
    """Audio of 2-4 distinct voices taking turns for about *seconds*, and its reference segments
    ``(start, end, speaker)`` with speakers numbered in order of arrival; *voices_out* is given
    the pool's voices in that order. *variants*: how many espeak variants the pool's voices cycle
    through (``voices``); the voices of one conversation then have variants of their own, as two
    people have two timbres. *weights*: how often 2, 3 and 4 speakers talk."""
    count = speakers or rng.choices((2, 3, 4), weights=weights)[0]
    if variants:
        residues = rng.sample(range(min(variants, len(pool))), count)
        chosen = [rng.choice(range(residue, len(pool), variants)) for residue in residues]
    else:
        chosen = rng.sample(range(len(pool)), count)
    gains = [rng.uniform(0.4, 1.0) for _ in chosen]
    placed, cursor, last, previous_length = [], 0, None, 0
    while cursor < seconds * SAMPLE_RATE:
        unheard = [c for c in range(count) if c not in {p[2] for p in placed}]
        if unheard and rng.random() < 0.7:
            who = rng.choice(unheard)
        else:
            others = [c for c in range(count) if c != last] or [0]
            who = rng.choice(others) if rng.random() < 0.85 else (last if last is not None else 0)
        audio, start, end = rng.choice(pool[chosen[who]])
        if placed and rng.random() < 0.15:
            gap = -int(min(rng.uniform(0.2, 1.0) * SAMPLE_RATE, 0.5 * previous_length))
        else:
            gap = int(rng.uniform(0.1, 1.5) * SAMPLE_RATE)
        at = max(0, cursor + gap - start) if placed else int(rng.uniform(0.0, 0.5) * SAMPLE_RATE)
        placed.append((at, audio * gains[who], who, at + start, at + end))
        cursor = at + end
        last, previous_length = who, end - start
    total = max(p[0] + len(p[1]) for p in placed)
    mixed = np.zeros(total, np.float32)
    for at, audio, *_ in placed:
        mixed[at : at + len(audio)] += audio
    if rng.random() < 0.5:
        mixed += np_rng.standard_normal(total).astype(np.float32) * rng.uniform(0.001, 0.01)
    order = sorted({p[2] for p in placed}, key=lambda who: min(p[3] for p in placed if p[2] == who))
    segments = [(p[3] / SAMPLE_RATE, p[4] / SAMPLE_RATE, order.index(p[2])) for p in placed]
    if voices_out is not None:
        voices_out.extend(chosen[who] for who in order)
    return mixed, segments


def frame_labels(segments, frames: int) -> np.ndarray:
    """[frames, SPEAKERS]: 1 where a speaker talks over at least half of the 80 ms frame."""
    labels = np.zeros((frames, SPEAKERS), np.float32)
    centres = (np.arange(frames) + 0.5) * FRAME_SECONDS
    for start, end, speaker in segments:
        labels[(centres >= start) & (centres < end), speaker] = 1.0
    return labels


def padded(audio: list[np.ndarray]):
    import torch

    lengths = torch.tensor([len(a) for a in audio])
    signal = torch.zeros(len(audio), int(lengths.max()))
    for row, a in enumerate(audio):
        signal[row, : len(a)] = torch.from_numpy(a)
    return signal, lengths


def train_step(model, batch, optimizer, voice_head=None) -> float:
    """One step on *batch* of (audio, segments, voices). With *voice_head* (a linear layer for
    training only, as the speech fixture's CTC head), the encoder's frames where one voice speaks
    are also classified by voice: it teaches the encoder what tells voices apart much sooner than
    the speaker outputs alone do."""
    import torch
    from nemo.collections.asr.parts.utils.asr_multispeaker_utils import get_ats_targets, get_pil_targets

    signal, lengths = padded([audio for audio, _, _ in batch])
    features, feature_lengths = model.process_signal(audio_signal=signal, audio_signal_length=lengths)
    features = features[:, :, : feature_lengths.max()]
    encoded, encoded_lengths = model.frontend_encoder(features, feature_lengths)
    preds = model.forward_infer(encoded, encoded_lengths)
    labels = np.stack([frame_labels(segments, preds.shape[1]) for _, segments, _ in batch])
    targets = torch.from_numpy(labels)
    ats = get_ats_targets(targets.clone(), preds, speaker_permutations=model.speaker_permutations)
    pil = get_pil_targets(targets.clone(), preds, speaker_permutations=model.speaker_permutations)
    loss = 0.5 * model.loss(probs=preds, labels=ats, target_lens=encoded_lengths) + \
        0.5 * model.loss(probs=preds, labels=pil, target_lens=encoded_lengths)
    if voice_head is not None:
        voices = np.full(labels.shape[:2], -100, dtype=np.int64)
        for row, (_, _, spoken) in enumerate(batch):
            alone = labels[row].sum(axis=1) == 1
            speaker = labels[row].argmax(axis=1)
            voices[row, alone] = np.asarray(spoken)[speaker[alone]]
        voices[:, encoded.shape[1]:] = -100
        logits = voice_head(encoded)
        loss = loss + VOICE_WEIGHT * torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), torch.from_numpy(voices).reshape(-1), ignore_index=-100)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    optimizer.step()
    return float(loss)


def error_rate(model, held: list[tuple[np.ndarray, list]], streaming: bool | None = None) -> float:
    """NeMo's DER (collar 0.25 s, overlap scored) of the app's own diarizer over *held*: as the
    app runs it (whole up to 90 s, streamed beyond), or streamed / whole whatever the length."""
    from nemo.collections.asr.metrics.der import score_labels_from_rttm_labels

    from parakeet_desktop.engine.speakers import OFFLINE_SECONDS, Diarizer

    model.eval()
    diarizer = Diarizer(model, offline_seconds={None: OFFLINE_SECONDS, True: 0.0, False: 1e9}[streaming])
    references, hypotheses = [], []
    for index, (audio, segments) in enumerate(held):
        turns = diarizer.diarize(audio).turns
        references.append((f"c{index}", [f"{s:.2f} {e:.2f} s{k}" for s, e, k in segments]))
        hypotheses.append((f"c{index}", [f"{t.start:.2f} {t.end:.2f} h{t.speaker}" for t in turns]
                           or ["0.00 0.01 h0"]))
    model.train()
    result = score_labels_from_rttm_labels(references, hypotheses, collar=0.25, ignore_overlap=False, verbose=False)
    return float(result[2][0]) if result else 1.0


def sortformer_with_encoder_of(path: Path, seed: int):
    """A new fixture Sortformer whose encoder (and feature normalisation) is *path*'s."""
    import torch
    from nemo.collections.asr.models import ASRModel, SortformerEncLabelModel
    from omegaconf import OmegaConf

    from tools.nemo_models import sortformer_config

    speech = ASRModel.restore_from(str(path), map_location="cpu")
    config = sortformer_config(SORTFORMER_FIXTURE, streaming=True)
    config["preprocessor"]["normalize"] = speech.cfg.preprocessor.normalize
    torch.manual_seed(seed)
    model = SortformerEncLabelModel(cfg=OmegaConf.create(config))
    missing, unexpected = model.encoder.load_state_dict(speech.encoder.state_dict(), strict=False)
    logger.info("encoder from %s (missing %s, unexpected %s)", path.name, missing, unexpected)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/diarization-sortformer.nemo"))
    parser.add_argument("--voices", type=int, default=240, help="training voices")
    parser.add_argument("--per-voice", type=int, default=8, help="utterances each training voice says")
    parser.add_argument("--held-out", type=int, default=40, help="held-out conversations")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-seconds", type=float, default=160.0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--stop-at-der", type=float, default=0.06)
    parser.add_argument("--init-from", type=Path, help="continue training this .nemo file")
    parser.add_argument("--encoder-from", type=Path,
                        help="start the FastConformer encoder from this speech model's (same layer sizes; "
                             "its features normalised as that model's were), as NVIDIA starts Sortformer "
                             "from a pretrained encoder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--voice-head", action="store_true",
                        help="also classify the encoder's frames by voice while training (a head that is "
                             "thrown away afterwards)")
    parser.add_argument("--speaker-weights", default="4,3,2",
                        help="how often conversations have 2, 3 and 4 speakers (default: 4,3,2)")
    args = parser.parse_args()
    weights = tuple(float(w) for w in args.speaker_weights.split(","))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    import torch
    from nemo.utils import logging as nemo_logging

    nemo_logging.setLevel(logging.ERROR)
    torch.manual_seed(args.seed)
    rng, np_rng = random.Random(args.seed), np.random.default_rng(args.seed)
    started = time.monotonic()
    training_texts = training_sentences(2000) + random_orders(500, 51)
    held_texts = held_out_sentences(200, 4000) + random_orders(60, 52)
    pool = synthesize_pool(voices(args.voices, TRAINING_VARIANTS, rng), training_texts, args.per_voice, rng)
    held_rng = random.Random(1000 + args.seed)
    held_pool = synthesize_pool(voices(36, HELD_OUT_VARIANTS, held_rng), held_texts, 6, held_rng)
    distinct = len(HELD_OUT_VARIANTS)
    held = [conversation(held_pool, held_rng.uniform(20, 40), held_rng, np.random.default_rng(i), (2, 3, 4)[i % 3],
                         variants=distinct) for i in range(args.held_out)]
    long_held = [conversation(held_pool, 150, held_rng, np.random.default_rng(99 + i), (2, 3, 4)[i % 3],
                              variants=distinct) for i in range(max(2, args.held_out // 10))]
    synthesis_minutes = (time.monotonic() - started) / 60
    logger.info("synthesis took %.1f min", synthesis_minutes)

    if args.init_from:
        from nemo.collections.asr.models import SortformerEncLabelModel

        model = SortformerEncLabelModel.restore_from(str(args.init_from), map_location="cpu")
    elif args.encoder_from:
        model = sortformer_with_encoder_of(args.encoder_from, args.seed)
    else:
        model = build_sortformer(SORTFORMER_FIXTURE, seed=args.seed, streaming=True)
    model.train()
    voice_head = torch.nn.Linear(SORTFORMER_FIXTURE.tf_d_model, args.voices) if args.voice_head else None
    parameters = [*model.parameters(), *(voice_head.parameters() if voice_head is not None else ())]
    optimizer = torch.optim.AdamW(parameters, lr=args.lr, betas=(0.9, 0.98), weight_decay=1e-3)
    warmup = max(1, min(100, args.steps // 10))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps))))
    best, history, losses = (float("inf"), 0), [], []
    training_started = time.monotonic()
    for step in range(1, args.steps + 1):
        seconds = rng.uniform(12, 40)
        batch = []
        for _ in range(max(1, int(args.batch_seconds // seconds))):
            spoken: list[int] = []
            audio, segments = conversation(pool, seconds, rng, np_rng, voices_out=spoken,
                                           variants=len(TRAINING_VARIANTS), weights=weights)
            batch.append((audio, segments, spoken))
        losses.append(train_step(model, batch, optimizer, voice_head))
        schedule.step()
        if step % 20 == 0:
            logger.info("step %d loss %.4f", step, float(np.mean(losses[-20:])))
        if step % args.eval_every == 0 or step == args.steps:
            der = error_rate(model, held)
            history.append({"step": step, "held_out_der": round(der, 4)})
            logger.info("step %d held-out DER %.2f %%", step, 100 * der)
            if der < best[0]:
                best = (der, step)
                model.save_to(str(args.out))
            if der <= args.stop_at_der:
                break
    training_minutes = (time.monotonic() - training_started) / 60

    from nemo.collections.asr.models import SortformerEncLabelModel

    kept = SortformerEncLabelModel.restore_from(str(args.out), map_location="cpu")
    report = {
        "model": args.out.name, "class": "SortformerEncLabelModel",
        "parameters": sum(p.numel() for p in kept.parameters()),
        "shape": SORTFORMER_FIXTURE.__dict__, "training_voices": args.voices,
        "utterances_per_voice": args.per_voice, "training_variants": len(TRAINING_VARIANTS),
        "held_out_variants": HELD_OUT_VARIANTS, "steps": step, "kept_step": best[1],
        "batch_seconds": args.batch_seconds, "learning_rate": args.lr,
        "synthesis_minutes": round(synthesis_minutes, 1), "training_minutes": round(training_minutes, 1),
        "held_out_conversations": len(held),
        "held_out_der": round(error_rate(kept, held), 4),
        "held_out_der_streamed": round(error_rate(kept, held, streaming=True), 4),
        "held_out_der_150s": round(error_rate(kept, long_held), 4),
        "collar_seconds": 0.25, "overlap_scored": True, "history": history,
        "size_bytes": args.out.stat().st_size,
    }
    args.out.with_suffix(".training.json").write_text(json.dumps(report, indent=2) + "\n")
    logger.info("kept step %d: held-out DER %.2f %% (streamed %.2f %%, 150 s %.2f %%), %.1f MB",
                best[1], 100 * report["held_out_der"], 100 * report["held_out_der_streamed"],
                100 * report["held_out_der_150s"], report["size_bytes"] / 1e6)


if __name__ == "__main__":
    main()
