"""Stress: many push-to-talk presses of random length, with and without speech, and bursts of
rapid toggles, through a live engine and its microphone path, as fast as the engine takes audio.

A driven stand-in microphone (paced by the consumer, as the file microphone of the tests) feeds
one timeline: for each press, the key goes down, its audio flows (0 ms taps to 60 s holds; with
speech, one or more sentences spoken by espeak-ng with pauses, else room noise), the key comes up,
and a short gap of room noise follows. Key presses go into the engine's inbox between audio
blocks, so they land exactly where the timeline puts them. Every 100 presses, a burst of toggles
(hands-free on and off) with little or no audio between them.

Checked and printed as JSON: presses, presses with speech, finals, presses with speech that gave
no text or more than one final (each should be 0), presses that left the engine stuck (not idle
within 60 s of the release), WER of the speech presses, RSS at start, middle and end, wall time
and audio hours.

    python bench/stress.py [--presses 1000] [--longest 60] [--seed 0] [--model tests/fixtures/speech-tdt.nemo]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parakeet_desktop.engine.audio.decode import SAMPLE_RATE  # noqa: E402
from parakeet_desktop.engine.audio.file_device import FileSoundDevice  # noqa: E402
from tools.memory import rss_mb  # noqa: E402

BLOCK = 1600  # 0.1 s at 16 kHz, as the capture path asks for


class DrivenMicrophone(FileSoundDevice):
    """A sounddevice stand-in whose one input stream is fed by :meth:`push` (blocking while the
    engine has not taken the previous block, as the paced file microphone does)."""

    def __init__(self) -> None:
        super().__init__(samples=np.zeros(0, np.float32), realtime=False, name="driven")
        self.callback = None
        self.started = threading.Event()

    def InputStream(self, **kwargs):  # noqa: N802 - the sounddevice name
        microphone = self

        class Stream:
            active = True

            def start(self):
                microphone.callback = kwargs["callback"]
                microphone.started.set()

            def abort(self):
                self.active = False

            def close(self):
                self.active = False

        return Stream()

    def push(self, samples: np.ndarray) -> None:
        for start in range(0, len(samples), BLOCK):
            block = samples[start : start + BLOCK]
            self.callback(block[:, None].astype(np.float32), len(block), None, None)


def noise(seconds: float, rng: np.random.Generator) -> np.ndarray:
    return (rng.standard_normal(int(seconds * SAMPLE_RATE)) * 0.002).astype(np.float32)


def hold_seconds(rng: random.Random, longest: float) -> float:
    roll = rng.random()
    if roll < 0.2:
        return rng.uniform(0.0, 0.2)  # taps
    if roll < 0.75:
        return rng.uniform(0.3, 8.0)
    if roll < 0.95:
        return rng.uniform(8.0, 20.0)
    return rng.uniform(20.0, longest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=1000)
    parser.add_argument("--longest", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=str(Path(__file__).resolve().parents[1] / "tests/fixtures/speech-tdt.nemo"))
    args = parser.parse_args()

    import jiwer

    from parakeet_desktop.engine.live.dictation import LiveSettings, Mode, SessionState
    from parakeet_desktop.engine.live.events import Final
    from parakeet_desktop.engine.live.loop import LiveEngine
    from parakeet_desktop.engine.model.loader import load_model
    from tools.fixture_corpus import held_out_sentences, voice_for
    from tools.speech import speak

    rng, np_rng = random.Random(args.seed), np.random.default_rng(args.seed)
    texts = held_out_sentences(60, 4000)
    spoken = [speak(t, *voice_for(i, 5)) for i, t in enumerate(texts)]
    model = load_model(args.model, "cpu")
    finals: list = []
    microphone = DrivenMicrophone()
    engine = LiveEngine(model, LiveSettings(), lambda e: finals.append(e) if isinstance(e, Final) else None,
                        sd=microphone)
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    microphone.started.wait(60)

    def settle(timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if engine.inbox.empty() and engine.session.state is SessionState.IDLE:
                return True
            time.sleep(0.005)
        return False

    rss = {"start": rss_mb()}
    started = time.monotonic()
    audio_seconds = 0.0
    expected: list[str | None] = []  # per press: the words said, or None without speech
    stuck = toggles = 0
    wrong: list[int] = []  # presses whose finals were not as expected
    heard: list[str] = []  # the text of each speech press, in order
    for press in range(args.presses):
        before = len(finals)
        hold = hold_seconds(rng, args.longest)
        audio, said = [], []
        if hold > 2.5 and rng.random() < 0.7:  # speech: sentences with pauses that fill the hold
            audio.append(noise(0.3, np_rng))
            length = 0.3
            while True:
                n = rng.randrange(len(spoken))
                if said and length + len(spoken[n]) / SAMPLE_RATE + 0.6 > hold:
                    break
                audio += [spoken[n], noise(rng.uniform(0.3, 1.5), np_rng)]
                said.append(texts[n])
                length += len(spoken[n]) / SAMPLE_RATE + len(audio[-1]) / SAMPLE_RATE
            audio.append(noise(0.4, np_rng))
        else:
            audio.append(noise(hold, np_rng))
        samples = np.concatenate(audio)
        audio_seconds += len(samples) / SAMPLE_RATE + 0.5
        engine.start(Mode.PUSH_TO_TALK)
        microphone.push(samples)
        engine.stop()
        expected.append(" ".join(said) if said else None)
        microphone.push(noise(0.5, np_rng))  # the gap before the next press
        if not settle():
            stuck += 1
        texts_now = [f.text.strip() for f in finals[before:] if f.text.strip()]
        if said and len(texts_now) == 1:
            heard.append(texts_now[0])
        elif said or texts_now:  # speech without exactly one text, or words from room noise
            wrong.append(press)
        if press % 100 == 99:  # a burst of rapid toggles: on, off, on, off...
            for n in range(20):
                engine.toggle(Mode.HANDS_FREE)
                toggles += 1
                if n % 3 == 0:
                    microphone.push(noise(0.1, np_rng))
            if toggles % 2:
                engine.toggle(Mode.HANDS_FREE)
                toggles += 1
            microphone.push(noise(0.5, np_rng))
            if not settle():
                stuck += 1
        if press == args.presses // 2:
            rss["middle"] = rss_mb()
    settle()
    rss["end"] = rss_mb()
    wall = time.monotonic() - started
    engine.shutdown()
    thread.join(60)

    speech = [e for e in expected if e]
    right = [e for n, e in enumerate(expected) if e and n not in wrong]
    report = {
        "presses": args.presses, "presses_with_speech": len(speech), "toggles": toggles,
        "finals": len(finals), "presses_not_as_expected": len(wrong), "first_such_presses": wrong[:10],
        "stuck": stuck, "audio_hours": round(audio_seconds / 3600, 2), "wall_seconds": round(wall, 1),
        "rss_mb": {k: round(v, 1) for k, v in rss.items()},
        "wer_of_speech_presses": round(float(jiwer.wer(right, heard)), 4) if right else None,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
