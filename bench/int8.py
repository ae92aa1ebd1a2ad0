"""Benchmark: the ``cpu-int8`` device choice (engine/model/quantize.py), what it costs in words and
what it saves in time, float32 beside int8 in one run.

Accuracy, on the committed speech model (trained: the only model here whose words mean
anything), word error rates on held-out speech in varied espeak-ng voices:

- short: grammar sentences and random orders of vocabulary words, each recognised alone;
- 12-30 s: recordings of several sentences with pauses of 0.3-3 s, each transcribed as a file;
- 25 min: one file of held-out sentences with pauses, through the file path.

Speed, on the random-weight twin of parakeet-tdt-0.6b-v3 (the size users run; its text means
nothing, its joint biased to blank to emit as speech does): the encoder's seconds for one 30 s
piece and the file path's seconds for ``--seconds`` of audio, alternating, and the resident
memory after loading each. Prints JSON: the WER of each set both ways, the difference in
points, and whether int8 stayed within half a point everywhere measured.

    python bench/int8.py [--minutes 25] [--seconds 60] [--repeats 3] [--no-twin] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from parakeet_desktop.engine.audio.decode import SAMPLE_RATE  # noqa: E402
from parakeet_desktop.engine.model import memory  # noqa: E402
from parakeet_desktop.engine.model.loader import load_model  # noqa: E402
from parakeet_desktop.engine.recognize.files import FileTranscriber  # noqa: E402
from tools.figures import cpu  # noqa: E402
from tools.fixture_corpus import held_out_sentences, random_orders, voice_for  # noqa: E402
from tools.speech import passage, speak, with_pauses  # noqa: E402

SPEECH_MODEL = ROOT / "tests" / "fixtures" / "speech-tdt.nemo"
VOICE_SEED = 31  # voices none of the tests use
DEFAULT_LIMIT = 0.005  # the bar for making it the default: no set more than half a point worse


def _spoken(texts: list[str], seed: int) -> list[np.ndarray]:
    return [speak(text, *voice_for(i, seed)) for i, text in enumerate(texts)]


def _recording(texts: list[str], seed: int, rng: random.Random) -> np.ndarray:
    parts = []
    for speech in _spoken(texts, seed):
        parts += [speech, np.zeros(int(rng.uniform(0.3, 3.0) * SAMPLE_RATE), np.float32)]
    return np.concatenate(parts)


def speech_sets(minutes: float, short: int, recordings: int) -> dict[str, list[tuple[str, np.ndarray]]]:
    """(reference text, audio) pairs of each held-out set."""
    training = json.loads((ROOT / "tests" / "fixtures" / "speech-tdt.training.json").read_text())["training_utterances"]
    pool = held_out_sentences(short + 8 * recordings + int(minutes * 60 / 3.0) + 40, training)
    grammar, rest = pool[:short], pool[short:]
    orders = random_orders(short, seed=VOICE_SEED)
    rng = random.Random(VOICE_SEED)
    long_files = []
    for n in range(recordings):  # several sentences each, 12-30 s
        texts, audio = [], np.zeros(0, np.float32)
        while len(audio) < 12 * SAMPLE_RATE:
            texts.append(rest.pop())
            audio = _recording(texts, VOICE_SEED + n, rng)
        if len(audio) > 30 * SAMPLE_RATE:
            texts.pop()
            audio = _recording(texts, VOICE_SEED + n, rng)
        long_files.append((" ".join(texts), audio))
    spoken = ((text, speak(text, *voice_for(i, VOICE_SEED + 1000))) for i, text in enumerate(rest))
    talk_texts, _, talk = with_pauses(spoken, minutes * 60, rng)
    return {
        "short_sentences": list(zip(grammar, _spoken(grammar, VOICE_SEED))),
        "short_random_orders": list(zip(orders, _spoken(orders, VOICE_SEED + 1))),
        "recordings_12_to_30_s": long_files,
        f"file_{minutes:g}_min": [(" ".join(talk_texts), talk)],
    }


def word_error_rates(model, sets: dict) -> dict[str, float]:
    import jiwer

    rates = {}
    for name, pairs in sets.items():
        if name.startswith("short"):  # each utterance alone, as dictation gives them
            found = [r.text for r in model.recognize([audio for _, audio in pairs])]
        else:  # through the file path: cut at pauses, batched
            transcriber = FileTranscriber(model)
            found = [transcriber.transcribe_array(audio).text for _, audio in pairs]
        rates[name] = round(float(jiwer.wer([text for text, _ in pairs], found)), 4)
    return rates


def speed(seconds: float, repeats: int) -> dict:
    """float32 against int8 on the 0.6B twin: one 30 s piece's encoder, and the file path."""
    import torch
    from startup import twin_model

    from tools.nemo_models import make_sparse

    audio = passage(seconds)
    piece = audio[: 30 * SAMPLE_RATE]
    models, rss = {}, {}
    for device in ("cpu", "cpu-int8"):
        models[device] = load_model(str(twin_model()), device, warm_up=False)
        memory.give_back()
        rss[device] = memory.resident_bytes()
    with torch.no_grad():
        rate = make_sparse(models["cpu"].nemo, audio[: 10 * SAMPLE_RATE])
        models["cpu-int8"].nemo.joint.joint_net[-1].bias.copy_(models["cpu"].nemo.joint.joint_net[-1].bias)
    times = {device: {"encoder_30s": [], "file": []} for device in models}
    for model in models.values():  # warm each once
        model.encode_batch([piece])
        FileTranscriber(model).transcribe_array(audio)
    for _ in range(repeats):
        for device, model in models.items():
            start = time.perf_counter()
            model.encode_batch([piece])
            times[device]["encoder_30s"].append(time.perf_counter() - start)
            start = time.perf_counter()
            FileTranscriber(model).transcribe_array(audio)
            times[device]["file"].append(time.perf_counter() - start)
    median = {d: {k: statistics.median(v) for k, v in t.items()} for d, t in times.items()}
    return {
        "model": "parakeet-tdt-0.6b-v3 twin (random weights)",
        "tokens_per_second": round(rate, 2),
        "audio_seconds": seconds,
        "float32": {"encoder_30s_seconds": round(median["cpu"]["encoder_30s"], 3),
                    "file_seconds": round(median["cpu"]["file"], 3),
                    "rss_after_load_mb": round(rss["cpu"] / 2**20, 1) if rss["cpu"] else None},
        "int8": {"encoder_30s_seconds": round(median["cpu-int8"]["encoder_30s"], 3),
                 "file_seconds": round(median["cpu-int8"]["file"], 3),
                 # both models are in this process: the growth is the int8 model's own
                 "rss_growth_mb": round((rss["cpu-int8"] - rss["cpu"]) / 2**20, 1) if rss["cpu"] else None},
        "encoder_speedup": round(median["cpu"]["encoder_30s"] / median["cpu-int8"]["encoder_30s"], 2),
        "file_speedup": round(median["cpu"]["file"] / median["cpu-int8"]["file"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=25.0, help="length of the long file")
    parser.add_argument("--seconds", type=float, default=60.0, help="audio for the speed comparison")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-twin", dest="twin", action="store_false", help="leave out the speed comparison")
    parser.add_argument("--smoke", action="store_true", help="small sets, no twin (a check that it runs)")
    args = parser.parse_args()
    short, recordings = (120, 15) if not args.smoke else (6, 1)
    if args.smoke:
        args.minutes, args.twin = 1.0, False

    sets = speech_sets(args.minutes, short, recordings)
    rates = {device: word_error_rates(load_model(str(SPEECH_MODEL), device), sets) for device in ("cpu", "cpu-int8")}
    points = {name: round(100 * (rates["cpu-int8"][name] - rates["cpu"][name]), 2) for name in sets}
    report = {
        "benchmark": "int8", "cpu": cpu(),
        "accuracy_model": SPEECH_MODEL.name,
        "sets": {name: {"items": len(pairs), "audio_seconds": round(sum(len(a) for _, a in pairs) / SAMPLE_RATE, 1)}
                 for name, pairs in sets.items()},
        "wer_float32": rates["cpu"],
        "wer_int8": rates["cpu-int8"],
        "int8_minus_float32_points": points,
        "within_half_a_point_everywhere": all(p <= 100 * DEFAULT_LIMIT for p in points.values()),
    }
    if args.twin:
        report["speed"] = speed(args.seconds, args.repeats)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
