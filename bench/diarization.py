"""Benchmark: what telling speakers apart costs beside recognition, on random twins of the
full-size models (the compute is real, the labels are not).

Builds a twin of diar_streaming_sortformer_4spk-v2(.1) (17 FastConformer layers of 512, 18
Transformer layers of 192, 128 features, the speaker cache and FIFO of its published config), of
TitaNet Large, and of the recognizer (parakeet-tdt_ctc-110m on the CPU, parakeet-tdt-0.6b-v3 on a
GPU), then on the same espeak passage: the recognizer's seconds per minute of audio (our file path)
beside the diarizer's (streamed chunk by chunk, as files longer than 90 s are), their ratio (the
goal: diarizing adds at most 30 % to a file's time), TitaNet's time for 30 s of a speaker, and the
diarizer's peak memory over a short and a long recording (bounded: it must not grow with the
length). Prints JSON.

    python bench/diarization.py [--minutes 3] [--long-minutes 60] [--device auto] [--smoke]

``--smoke``: tiny twins and seconds of audio (CI keeps the bench from rotting).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from file_transcription import PeakRss  # noqa: E402  (bench/, next to this file)

from parakeet_desktop.engine.audio.decode import SAMPLE_RATE  # noqa: E402
from parakeet_desktop.engine.model.devices import plan_device, probe_cuda  # noqa: E402
from parakeet_desktop.engine.model.loader import prepare_model  # noqa: E402
from parakeet_desktop.engine.recognize.files import FileTranscriber  # noqa: E402
from parakeet_desktop.engine.speakers import Diarizer, SpeakerEmbedder  # noqa: E402
from tools.figures import cpu  # noqa: E402
from tools.nemo_models import (  # noqa: E402
    PARAKEET_TDT_CTC_110M,
    PARAKEET_TDT_V3,
    SORTFORMER_4SPK_V2,
    SORTFORMER_FIXTURE,
    TINY,
    TITANET_FIXTURE,
    TITANET_LARGE,
    build_model,
    build_sortformer,
    build_titanet,
)
from tools.speech import passage  # noqa: E402


def _timed(run, cuda: bool) -> tuple[float, object]:
    import torch

    if cuda:
        torch.cuda.synchronize()
    started = time.perf_counter()
    result = run()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="audio for the speed figures")
    parser.add_argument("--long-minutes", type=float, default=60.0, help="the long recording for peak memory")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--smoke", action="store_true", help="tiny twins, seconds of audio")
    args = parser.parse_args()
    if args.smoke:
        args.minutes, args.long_minutes = 0.5, 2.5

    import tempfile

    import torch

    plan = plan_device(args.device, probe_cuda())
    cuda = plan.device == "cuda"
    recognizer_shape = TINY if args.smoke else PARAKEET_TDT_V3 if cuda else PARAKEET_TDT_CTC_110M
    with tempfile.TemporaryDirectory() as folder:
        recognizer = prepare_model(build_model(recognizer_shape, Path(folder)), "recognizer twin", plan,
                                   warm_up=False)
    sortformer = build_sortformer(SORTFORMER_FIXTURE if args.smoke else SORTFORMER_4SPK_V2)
    titanet = build_titanet(TITANET_FIXTURE if args.smoke else TITANET_LARGE)
    if cuda:
        sortformer.to("cuda")
        titanet.to("cuda")
    diarizer = Diarizer(sortformer, "sortformer twin", offline_seconds=0.0)  # streamed, as long files are
    embedder = SpeakerEmbedder(titanet)

    audio = passage(min(args.minutes * 60, 120))
    audio = np.resize(audio, int(args.minutes * 60 * SAMPLE_RATE)).astype(np.float32)
    minutes = len(audio) / SAMPLE_RATE / 60
    diarizer.diarize(audio[: 20 * SAMPLE_RATE])  # warm-up of both
    FileTranscriber(recognizer).transcribe_array(audio[: 20 * SAMPLE_RATE])
    recognize_seconds, _ = _timed(lambda: FileTranscriber(recognizer).transcribe_array(audio), cuda)
    diarize_seconds, _ = _timed(lambda: diarizer.diarize(audio), cuda)
    embed_seconds, _ = _timed(lambda: embedder.embed(audio[: 30 * SAMPLE_RATE]), cuda)

    memory = {}
    for length in (args.long_minutes / 6, args.long_minutes):
        long = np.resize(audio, int(length * 60 * SAMPLE_RATE))
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        with PeakRss() as rss:
            seconds, _ = _timed(lambda long=long: diarizer.diarize(long), cuda)
        memory[f"{length:g} min"] = {
            "peak_rss_growth_mb": round((rss.peak - rss.start) / 2**20, 1), "seconds": round(seconds, 1),
            **({"peak_cuda_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1)} if cuda else {})}
    report = {
        "device": plan.device, "cpu": cpu(), "audio_minutes": round(minutes, 2),
        "recognizer": "tiny twin" if args.smoke else ("parakeet-tdt-0.6b-v3 twin" if cuda
                                                      else "parakeet-tdt_ctc-110m twin"),
        "diarizer": "tiny twin" if args.smoke else "diar_streaming_sortformer_4spk-v2 twin",
        "recognize_seconds_per_audio_minute": round(recognize_seconds / minutes, 2),
        "diarize_seconds_per_audio_minute": round(diarize_seconds / minutes, 2),
        "diarizing_adds": round(diarize_seconds / recognize_seconds, 3),
        "titanet_seconds_for_30s": round(embed_seconds, 3),
        "diarizer_memory": memory,
        "memory_bounded": (memory[f"{args.long_minutes:g} min"]["peak_rss_growth_mb"]
                           <= 2 * memory[f"{args.long_minutes / 6:g} min"]["peak_rss_growth_mb"] + 64),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
