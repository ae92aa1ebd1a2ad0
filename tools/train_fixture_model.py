"""Train the small speech model that tests use to check spoken words: a real recogniser of
Parakeet's class (``EncDecRNNTBPEModel``, FastConformer encoder with 8x subsampling, LSTM
prediction net, TDT joint with durations 0-4) on espeak-ng speech over a fixed vocabulary.

    python tools/train_fixture_model.py --out tests/fixtures/speech-tdt.nemo

Steps: synthesise training speech with espeak-ng (several voices, variants, rates and pitches);
train a SentencePiece tokenizer on the training text; train on the CPU with the TDT loss of
``tools/tdt_loss.py`` (NeMo's TDT losses need CUDA); measure word error rate on held-out
sentences; write the ``.nemo`` file, the vocabulary (one word a line) and a note beside it.

On the two-core build machine the default run takes about 70 minutes: half a minute of synthesis
(4,000 utterances, 2.9 h of speech) and 4,000 training steps of about 1 s each; timings and the
held-out WER go into ``<out>.training.json``. ``--steps 3 --sentences 24`` is a smoke test of
under a minute. ``--init-from`` continues training an earlier result.

A model trained on the grammar alone leans on it: words in any other order, and recordings of
several sentences with pauses, are heard much worse. ``--random-orders N`` adds N sequences of 4-9
vocabulary words in random order, ``--long-recordings N`` adds N recordings of 12-30 s, each
several sentences or sequences in one voice with pauses of 0.3-3 s between them. With either, the
held-out sets gain both kinds too, and the best checkpoint is the one whose worst WER, relative to
its target (random orders 10 %, long recordings 10 %, sentences 5 %), is lowest; it is written to
``--out`` each time it improves, so a run can be stopped at any point. ``--commands N`` adds N
utterances with the app's spoken commands ("new line", "scratch that", ...: alone, or ending a
sentence or sequence), with a held-out set of its own (target 5 %).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parakeet_desktop.engine.audio.decode import SAMPLE_RATE  # noqa: E402
from tools.fixture_corpus import (  # noqa: E402
    TRAIN_SEED,
    VOCABULARY,
    command_utterances,
    held_out_sentences,
    random_orders,
    training_sentences,
    voice_for,
)
from tools.nemo_models import ModelShape, build_tokenizer, model_config  # noqa: E402
from tools.speech import speak  # noqa: E402
from tools.tdt_loss import tdt_log_likelihood  # noqa: E402

logger = logging.getLogger("train_fixture_model")

SHAPE = ModelShape(n_layers=4, d_model=128, n_heads=4, subsampling_channels=64, pred_hidden=160,
                   joint_hidden=160, pred_rnn_layers=1, features=80, vocab_size=384)
STREAMING_LOOKAHEADS = (13, 6, 1, 0)  # nemotron-speech-streaming's
CTC_WEIGHT = 0.3
TARGETS = {"sentences": 0.05, "random_orders": 0.10, "long_recordings": 0.10, "commands": 0.05}
RANDOM_ORDER_SEEDS = (31, 32)  # training, held out
COMMAND_SEEDS = (41, 42)


def synthesize_all(texts: list[str], seed: int, workers: int = 3) -> list[np.ndarray]:
    voices = [voice_for(i, seed) for i in range(len(texts))]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda item: speak(item[0], *item[1]), zip(texts, voices, strict=True)))


def long_recordings(count: int, pool: list[str], seed: int) -> tuple[list[np.ndarray], list[str]]:
    """*count* recordings of 12-30 s: texts from *pool* spoken in one voice a recording, with
    pauses of 0.3-3 s between them (and none cut)."""
    rng = random.Random(seed)
    plans = []
    for index in range(count):
        target, chosen, estimate = rng.uniform(12, 30), [], 0.0
        while estimate < target - 3:
            text = rng.choice(pool)
            chosen.append(text)
            estimate += 0.45 * len(text.split()) + 1.6
        plans.append((chosen, voice_for(index, seed), target))

    def record(plan):
        texts, voice, target = plan
        parts = []
        for text in texts:
            parts += [speak(text, *voice), np.zeros(int(rng.uniform(0.3, 3.0) * SAMPLE_RATE), np.float32)]
        audio = np.concatenate(parts[:-1])
        while len(audio) > 30 * SAMPLE_RATE and len(texts) > 1:  # drop whole sentences, never cut one
            texts = texts[:-1]
            parts = parts[:-2]
            audio = np.concatenate(parts[:-1])
        return audio, " ".join(texts)

    with ThreadPoolExecutor(3) as pool_:
        made = list(pool_.map(record, plans))
    return [a for a, _ in made], [t for _, t in made]


def augment(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random gain, a little leading/trailing silence and, half the time, noise at 15-40 dB SNR."""
    lead, trail = (np.zeros(rng.integers(0, SAMPLE_RATE // 3), np.float32) for _ in range(2))
    audio = np.concatenate([lead, audio * rng.uniform(0.3, 1.0), trail]).astype(np.float32)
    if rng.random() < 0.5:
        power = float(np.mean(audio**2)) + 1e-9
        snr = rng.uniform(15, 40)
        audio = audio + rng.standard_normal(len(audio)).astype(np.float32) * math.sqrt(power / 10 ** (snr / 10))
    return audio


def build_model(tokenizer_dir: Path):
    from nemo.collections.asr.models import EncDecRNNTBPEModel
    from omegaconf import OmegaConf

    config = model_config(SHAPE, tokenizer_dir)
    config["spec_augment"] = {
        "_target_": "nemo.collections.asr.modules.SpectrogramAugmentation",
        "freq_masks": 2, "time_masks": 4, "freq_width": 12, "time_width": 0.05,
    }
    config["encoder"]["xscaling"] = True
    return EncDecRNNTBPEModel(cfg=OmegaConf.create(config))


def cache_aware_from(path: Path, folder: Path, audio: list[np.ndarray]):
    """The model at *path* rebuilt with a cache-aware encoder, its weights kept as far as they
    fit: causal convolutions and limited attention change no weight's shape; causal subsampling
    gives one more frequency bin to the subsampling's output layer, whose weights for the others
    are kept (the new bin's start at zero). The offline model is the starting point; fine-tuning
    teaches it to do without what it can no longer see. Training samples one of the look-aheads
    for each batch (NeMo's multi-look-ahead training). Streaming features are not normalised per
    utterance; the first convolution is rescaled by the mean and spread of *audio*'s features so
    that it sees about what it saw."""
    import shutil
    import tarfile

    import torch
    from nemo.collections.asr.models import EncDecRNNTBPEModel
    from omegaconf import OmegaConf, open_dict

    offline = EncDecRNNTBPEModel.restore_from(str(path), map_location="cpu")
    unpacked = folder / "offline"
    with tarfile.open(path) as archive:
        archive.extractall(unpacked, filter="data")
    tokenizer = folder / "tokenizer"
    tokenizer.mkdir()
    for name, wanted in (("_tokenizer.model", "tokenizer.model"), ("_vocab.txt", "vocab.txt")):
        shutil.copy(next(unpacked.glob(f"*{name}")), tokenizer / wanted)
    config = OmegaConf.create(OmegaConf.to_container(offline.cfg))
    streaming = model_config(replace(SHAPE, lookaheads=STREAMING_LOOKAHEADS), tokenizer)
    with open_dict(config):
        config.tokenizer = {"dir": str(tokenizer), "type": "bpe"}
        config.preprocessor.normalize = streaming["preprocessor"]["normalize"]
        for key in ("att_context_size", "att_context_style", "att_context_probs", "conv_context_size",
                    "causal_downsampling"):
            config.encoder[key] = streaming["encoder"][key]
    model = EncDecRNNTBPEModel(cfg=config)
    weights = offline.state_dict()
    name = "encoder.pre_encode.out.weight"
    new = model.state_dict()[name].clone().zero_()
    channels = SHAPE.subsampling_channels
    old_bins, new_bins = weights[name].shape[1] // channels, new.shape[1] // channels
    with torch.no_grad():
        new.view(new.shape[0], channels, new_bins)[:, :, :old_bins] = weights[name].view(-1, channels, old_bins)
    weights[name] = new
    model.load_state_dict(weights)
    model.eval()
    with torch.inference_mode():
        raw = [model.preprocessor(input_signal=torch.from_numpy(a)[None], length=torch.tensor([len(a)]))[0]
               for a in audio]
    values = torch.cat([r.flatten() for r in raw])
    mean, spread = float(values.mean()), float(values.std())
    first = model.encoder.pre_encode.conv[0]
    with torch.no_grad():
        first.bias -= first.weight.sum(dim=(1, 2, 3)) * mean / spread
        first.weight /= spread
    logger.info("features: mean %.2f, spread %.2f folded into the first convolution", mean, spread)
    return model


def batches(lengths: list[int], batch_seconds: float, rng: random.Random) -> list[list[int]]:
    """Index batches of similar length (little padding), each about *batch_seconds* padded."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    result, current = [], []
    for i in order:
        if current and lengths[i] * (len(current) + 1) > batch_seconds * SAMPLE_RATE:
            result.append(current)
            current = []
        current.append(i)
    if current:
        result.append(current)
    rng.shuffle(result)
    return result


def _padded(audio: list[np.ndarray]):
    """A zero-padded [B, samples] batch and its lengths."""
    import torch

    lengths = torch.tensor([len(a) for a in audio])
    signal = torch.zeros(len(audio), int(lengths.max()))
    for row, a in enumerate(audio):
        signal[row, : len(a)] = torch.from_numpy(a)
    return signal, lengths


def train_step(model, ctc_head, audio: list[np.ndarray], tokens: list[list[int]], optimizer) -> float:
    import torch

    signal, lengths = _padded(audio)
    label_lengths = torch.tensor([len(t) for t in tokens])
    targets = torch.zeros(len(tokens), int(label_lengths.max()), dtype=torch.long)
    for row, t in enumerate(tokens):
        targets[row, : len(t)] = torch.tensor(t)

    encoded, encoded_lengths = model.forward(input_signal=signal, input_signal_length=lengths)
    decoded, _, _ = model.decoder(targets=targets, target_length=label_lengths)
    logits = model.joint.joint(encoded.transpose(1, 2), decoded.transpose(1, 2))
    durations = list(model.cfg.model_defaults.tdt_durations)
    blank = model.decoder.blank_idx
    likelihood = tdt_log_likelihood(logits, targets, encoded_lengths, label_lengths, durations, blank)
    loss = -likelihood.sum() / label_lengths.sum()
    # A CTC head on the encoder, for training only: it teaches the encoder to align much sooner
    # than the transducer loss alone does from random weights.
    ctc_logp = torch.log_softmax(ctc_head(encoded.transpose(1, 2)), dim=-1).transpose(0, 1)
    ctc = torch.nn.functional.ctc_loss(ctc_logp, targets, encoded_lengths, label_lengths, blank=blank,
                                       reduction="sum", zero_infinity=True) / label_lengths.sum()
    loss = loss + CTC_WEIGHT * ctc
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    optimizer.step()
    return float(loss)


def word_error_rate(model, audio: list[np.ndarray], texts: list[str]) -> float:
    import jiwer
    import torch

    model.eval()
    hypotheses = []
    with torch.inference_mode():
        for first in range(0, len(audio), 16):
            signal, lengths = _padded(audio[first : first + 16])
            encoded, encoded_lengths = model.forward(input_signal=signal, input_signal_length=lengths)
            found = model.decoding.rnnt_decoder_predictions_tensor(encoded, encoded_lengths)
            hypotheses += [h.text for h in found]
    model.train()
    return float(jiwer.wer(texts, hypotheses))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/speech-tdt.nemo"))
    parser.add_argument("--sentences", type=int, default=4000, help="training utterances")
    parser.add_argument("--held-out", type=int, default=120, help="held-out utterances for WER")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch-seconds", type=float, default=80.0, help="padded audio per batch")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--stop-at-wer", type=float, default=0.02,
                        help="stop early once held-out WER is this low")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init-from", type=Path, help="continue training this .nemo file")
    parser.add_argument("--random-orders", type=int, default=0, help="random-order word sequences")
    parser.add_argument("--long-recordings", type=int, default=0, help="12-30 s recordings with pauses")
    parser.add_argument("--commands", type=int, default=0,
                        help="utterances with the app's spoken commands (alone or at the end)")
    parser.add_argument("--cache-aware", action="store_true",
                        help="with --init-from: make the model a cache-aware streaming one (causal convolutions "
                             "and subsampling, attention limited to 70 frames back and look-aheads of 13, 6, 1 "
                             "and 0 frames, unnormalised features) and fine-tune it so")
    parser.add_argument("--keep-going", action="store_true",
                        help="train every step even once the targets are met (a margin below them)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    import torch
    from nemo.utils import logging as nemo_logging

    nemo_logging.setLevel(logging.ERROR)
    torch.manual_seed(args.seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rng, np_rng = random.Random(args.seed), np.random.default_rng(args.seed)
    started = time.monotonic()

    texts = training_sentences(args.sentences)
    held_texts = held_out_sentences(args.held_out, args.sentences)
    logger.info("synthesising %d training and %d held-out utterances", len(texts), len(held_texts))
    audio = synthesize_all(texts, TRAIN_SEED)
    held = {"sentences": (synthesize_all(held_texts, seed=1), held_texts)}
    extras = (("random_orders", args.random_orders, random_orders, RANDOM_ORDER_SEEDS, 1, 2),
              ("commands", args.commands, command_utterances, COMMAND_SEEDS, 3, 4))
    for name, count, make, (seed, held_seed), voices, held_voices in extras:
        if count:
            extra = make(count, seed)
            audio += synthesize_all(extra, TRAIN_SEED + voices)
            texts += extra
            held_extra = make(max(40, args.held_out // 2), held_seed)
            held[name] = (synthesize_all(held_extra, seed=held_voices), held_extra)
    if args.long_recordings:
        pool = texts  # sentences, and the random orders when asked for
        long_audio, long_texts = long_recordings(args.long_recordings, pool, TRAIN_SEED + 2)
        audio += long_audio
        texts += long_texts
        held_pool = held_out_sentences(args.held_out + 200, args.sentences)[args.held_out:]
        held_pool += held.get("random_orders", (None, []))[1]
        held["long_recordings"] = long_recordings(max(12, args.held_out // 8), held_pool, seed=3)
    synthesis_minutes = (time.monotonic() - started) / 60
    hours = sum(len(a) for a in audio) / SAMPLE_RATE / 3600
    logger.info("synthesis took %.1f min; %.2f h of training speech", synthesis_minutes, hours)

    with tempfile.TemporaryDirectory() as folder:
        if args.init_from:
            from nemo.collections.asr.models import EncDecRNNTBPEModel

            if args.cache_aware:
                model = cache_aware_from(args.init_from, Path(folder), audio[:200])
            else:
                model = EncDecRNNTBPEModel.restore_from(str(args.init_from), map_location="cpu")
        else:
            model = build_model(build_tokenizer(Path(folder) / "tokenizer", SHAPE.vocab_size, texts=texts))
        tokens = [model.tokenizer.text_to_ids(t) for t in texts]
        ctc_head = torch.nn.Linear(SHAPE.d_model, model.decoder.blank_idx + 1)
        optimizer = torch.optim.AdamW([*model.parameters(), *ctc_head.parameters()], lr=args.lr,
                                      betas=(0.9, 0.98), weight_decay=1e-3)
        warmup = max(1, min(300, args.steps // 10))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min((s + 1) / warmup, 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps))))
        model.train()
        step, losses, best = 0, [], (float("inf"), None)
        train_started = time.monotonic()
        while step < args.steps:
            for batch in batches([len(a) for a in audio], args.batch_seconds, rng):
                if step >= args.steps:
                    break
                loss = train_step(model, ctc_head, [augment(audio[i], np_rng) for i in batch],
                                  [tokens[i] for i in batch], optimizer)
                schedule.step()
                losses.append(loss)
                step += 1
                if step % 50 == 0:
                    logger.info("step %d loss %.3f lr %.2e (%.2f s/step)", step, np.mean(losses[-50:]),
                                schedule.get_last_lr()[0], (time.monotonic() - train_started) / step)
                if step % args.eval_every == 0 or step == args.steps:
                    wers = {name: word_error_rate(model, *pair) for name, pair in held.items()}
                    score = (max(wers[name] / TARGETS[name] for name in wers) if len(wers) > 1
                             else wers["sentences"])
                    logger.info("step %d held-out WER %s", step,
                                ", ".join(f"{name} {100 * wer:.2f}%" for name, wer in wers.items()))
                    if score <= best[0]:
                        best = (score, wers)
                        model.eval()
                        args.out.parent.mkdir(parents=True, exist_ok=True)
                        model.save_to(str(args.out))
                        model.train()
                    if score <= (1.0 if len(wers) > 1 else args.stop_at_wer) and not args.keep_going:
                        args.steps = step
        training_minutes = (time.monotonic() - train_started) / 60

    parameters = sum(p.numel() for p in model.parameters())
    (args.out.parent / f"{args.out.stem}.vocabulary.txt").write_text("\n".join(VOCABULARY) + "\n")
    report = {
        "model": args.out.name, "class": type(model).__name__, "parameters": parameters,
        "shape": replace(SHAPE, lookaheads=STREAMING_LOOKAHEADS if args.cache_aware else ()).__dict__,
        "tdt_durations": list(model.cfg.model_defaults.tdt_durations),
        "training_utterances": args.sentences, "training_hours": round(hours, 2),
        "steps": args.steps, "batch_seconds": args.batch_seconds, "learning_rate": args.lr,
        "held_out_utterances": args.held_out, "held_out_wer": round(best[1]["sentences"], 4),
        "held_out_wers": {name: round(wer, 4) for name, wer in best[1].items()},
        "random_orders": args.random_orders, "long_recordings": args.long_recordings, "commands": args.commands,
        "initialised_from": args.init_from.name if args.init_from else None,
        "synthesis_minutes": round(synthesis_minutes, 1), "training_minutes": round(training_minutes, 1),
        "file_megabytes": round(args.out.stat().st_size / 2**20, 2),
    }
    (args.out.parent / f"{args.out.stem}.training.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
