"""Vocabulary (phrase boosting inside decoding): what a list costs and what it gives.

Held-out sentences spoken by espeak-ng (the tests' voices) are split in two: on the first half,
the words the model misses most are picked and listed; on the second half, printed as JSON:

- decoding time of the batch with no list, and with lists of 100 and 1,000 phrases (the picked
  words among filler phrases), as ratios to none; recognition time (encoder included) likewise;
  the time to compile each list;
- for strengths 1, 3, 5 (the default), 7 and 10: recall of the listed words and the WER of the
  sentences without them, beside the same figures with no list.

    python bench/vocabulary.py [--model tests/fixtures/speech-tdt.nemo] [--utterances 480] [--repeats 3] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from parakeet_desktop.engine.recognize.vocabulary import NO_LIST, Vocabulary  # noqa: E402

SKIP = {"a", "an", "the", "in", "on", "of", "to"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "tests" / "fixtures" / "speech-tdt.nemo"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--utterances", type=int, default=480)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="few utterances, one repeat (a check that it runs)")
    args = parser.parse_args()
    if args.smoke:
        args.utterances, args.repeats = 80, 1

    import jiwer
    import torch

    from parakeet_desktop.engine.model.loader import load_model
    from tools.fixture_corpus import held_out_sentences, training_sentences, voice_for
    from tools.speech import speak

    training = json.loads((ROOT / "tests" / "fixtures" / "speech-tdt.training.json").read_text())["training_utterances"]
    texts = held_out_sentences(args.utterances, training)
    utterances = [(t, speak(t, *voice_for(i, seed=99))) for i, t in enumerate(texts)]
    pick, evaluate = utterances[: len(utterances) // 2], utterances[len(utterances) // 2:]
    model = load_model(args.model, args.device, boosting=True)

    heard = [r.text for r in model.recognize([s for _, s in pick])]
    missed, seen = Counter(), Counter()
    for (reference, _), text in zip(pick, heard):
        for word in set(reference.lower().split()) - SKIP:
            seen[word] += 1
            missed[word] += word not in text.lower().split()
    words = sorted((w for w in seen if seen[w] >= 3 and missed[w]), key=lambda w: -missed[w] / seen[w])[:10]

    rng = random.Random(0)
    pool = sorted({w for t in training_sentences(2000) for w in t.split()} - set(words))

    def phrases(count: int) -> tuple[str, ...]:
        filler = {" ".join(rng.sample(pool, rng.choice((1, 2, 3)))) for _ in range(count * 2)}
        return tuple(words) + tuple(sorted(filler))[: count - len(words)]

    audio = [s for _, s in evaluate]
    encoded, lengths = model.encode_batch(audio)

    def decode_once(list_id: int) -> float:
        started = time.perf_counter()
        with torch.inference_mode():
            if list_id == NO_LIST:
                model.nemo.decoding.rnnt_decoder_predictions_tensor(
                    encoder_output=encoded, encoded_lengths=lengths, return_hypotheses=True)
            else:
                model._boosted_hypotheses(encoded, lengths, list_id)
        return time.perf_counter() - started

    def recognise_once(vocabulary: Vocabulary) -> float:
        started = time.perf_counter()
        model.recognize(audio, vocabulary=vocabulary)
        return time.perf_counter() - started

    # Each list compiled once; then every case in turn, round after round (the best of each), so
    # that a machine busier at one moment does not favour the cases measured at another.
    cases: dict[str, tuple[Vocabulary, int, float]] = {"none": (Vocabulary(), NO_LIST, 0.0)}
    for count in (100, 1000):
        vocabulary = Vocabulary(phrases(count))
        started = time.perf_counter()
        list_id = model.hold_vocabulary(vocabulary)
        cases[str(count)] = (vocabulary, list_id, time.perf_counter() - started)
    decode = {name: float("inf") for name in cases}
    recognise = dict(decode)
    for _ in range(args.repeats):
        for name, (vocabulary, list_id, _compile) in cases.items():
            decode[name] = min(decode[name], decode_once(list_id))
            recognise[name] = min(recognise[name], recognise_once(vocabulary))
    timing = {"none": {"decode_s": round(decode["none"], 4), "recognise_s": round(recognise["none"], 4)}}
    for name, (vocabulary, list_id, compile_s) in cases.items():
        if name == "none":
            continue
        model.let_go_vocabulary(list_id)
        timing[name] = {"phrases": len(vocabulary.phrases), "compile_s": round(compile_s, 4),
                        "decode_s": round(decode[name], 4), "decode_ratio": round(decode[name] / decode["none"], 3),
                        "recognise_s": round(recognise[name], 4),
                        "recognise_ratio": round(recognise[name] / recognise["none"], 3)}

    def quality(texts_out: list[str]) -> dict:
        hits = total = 0
        others_ref, others_hyp = [], []
        for (reference, _), text in zip(evaluate, texts_out):
            listed = set(reference.lower().split()) & set(words)
            for word in listed:
                total += 1
                hits += word in text.lower().split()
            if not listed:
                others_ref.append(reference)
                others_hyp.append(text)
        return {"recall": round(hits / max(1, total), 4), "listed_occurrences": total,
                "other_sentences_wer": round(float(jiwer.wer(others_ref, others_hyp)), 4)}

    trade = {"none": quality([r.text for r in model.recognize(audio)])}
    for strength in (1, 3, 5, 7, 10):
        listed = Vocabulary(tuple(words), strength)
        trade[str(strength)] = quality([r.text for r in model.recognize(audio, vocabulary=listed)])
    print(json.dumps({"model": Path(args.model).name, "device": model.device, "utterances": len(utterances),
                      "evaluated": len(evaluate), "listed": words, "timing": timing,
                      "strength": trade}, indent=2))


if __name__ == "__main__":
    main()
