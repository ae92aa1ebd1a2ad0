"""Cache-aware streaming models (engine/recognize/cache_aware.py): the text streamed through ``listen`` and
through the local service's WebSocket is exactly what NeMo's own cache-aware streaming gives for
the same audio and look-ahead, for every look-ahead the model has, TDT and RNN-T; a model's own
end-of-utterance mark ends hands-free utterances; a ten-minute utterance keeps flat state."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from functools import cache

import numpy as np
import pytest
import soundfile

from support.cli import run_cli
from support.engine import Recorder, gated
from support.service import in_process_service, stream_samples, wav, ws_address
from support.speech import silence
from tools.nemo_models import TINY_STREAMING, make_marks_likely, write_nemo
from tools.speech import speak

STEPS_MS = (80, 160, 560, 1120)  # the tiny models have nemotron-speech-streaming's look-aheads


@pytest.fixture(scope="module")
def streaming_models(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("streaming-models")
    return {"tdt": write_nemo(TINY_STREAMING, folder / "tiny-streaming-tdt.nemo"),
            "rnnt": write_nemo(replace(TINY_STREAMING, tdt=False), folder / "tiny-streaming-rnnt.nemo", seed=1)}


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """Two sentences with a pause, as a 16-bit WAV file and as the samples read back from it."""
    audio = np.concatenate([silence(0.4), speak("the weather is fine today and we walk to the river"),
                            silence(0.6), speak("seven green bottles stood on the wall", voice="en-us"),
                            silence(0.5)])
    path = wav(tmp_path_factory.mktemp("speech") / "two sentences.wav", audio)
    return soundfile.read(path, dtype="float32")[0], path


@cache
def _raw_model(path: str):
    from nemo.collections.asr.models import ASRModel

    return ASRModel.restore_from(path, map_location="cpu").eval()


def nemo_streamed(model_path, audio: np.ndarray, step_ms: int) -> str:
    """NeMo's own cache-aware streaming of *audio*, as its example script does it: a loop of
    ``conformer_stream_step`` over the chunks of ``CacheAwareStreamingAudioBuffer``, the look-ahead
    whose step is *step_ms*, on the model as NeMo restores it."""
    import torch
    from nemo.collections.asr.parts.utils.streaming_utils import CacheAwareStreamingAudioBuffer

    model = _raw_model(str(model_path))
    frame_ms = round(1000 * model.cfg.preprocessor.window_stride * model.encoder.subsampling_factor)
    context = next(c for c in model.encoder.att_context_size_all if (c[1] + 1) * frame_ms == step_ms)
    model.encoder.set_default_att_context_size(context)
    buffer = CacheAwareStreamingAudioBuffer(model, online_normalization=False, pad_and_drop_preencoded=False)
    buffer.append_audio(audio)
    channel, time, length = model.encoder.get_initial_cache_state(batch_size=1)
    hypotheses = predictions = None
    for step, (chunk, lengths) in enumerate(iter(buffer)):
        with torch.inference_mode():
            predictions, _, channel, time, length, hypotheses = model.conformer_stream_step(
                processed_signal=chunk, processed_signal_length=lengths, cache_last_channel=channel,
                cache_last_time=time, cache_last_channel_len=length, keep_all_outputs=buffer.is_buffer_empty(),
                previous_hypotheses=hypotheses, previous_pred_out=predictions,
                drop_extra_pre_encoded=0 if step == 0 else model.encoder.streaming_cfg.drop_extra_pre_encoded,
                return_transcription=True)
    return " ".join(hypotheses[0].text.split())


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.mark.parametrize("step_ms", STEPS_MS)
def test_listen_streams_what_nemo_streams(streaming_models, recording, step_ms):
    audio, path = recording
    reference = nemo_streamed(streaming_models["tdt"], gated(audio), step_ms)
    offline_sizes = ("--chunk", "0.5") if step_ms == 560 else ()  # said not to apply, and not applied
    result = run_cli("listen", "--input", str(path), "--fast", "--model", str(streaming_models["tdt"]),
                     "--device", "cpu", "--step", str(step_ms), *offline_sizes)
    assert result.returncode == 0, result.stderr
    assert ("note: --chunk does not apply to a streaming model" in result.stderr) == bool(offline_sizes)
    lines = events(result.stdout)
    finals = [e for e in lines if e["type"] == "final"]
    assert len(finals) == 1 and not finals[0]["full_context"]  # the streamed text is the final
    assert reference and " ".join(finals[0]["text"].split()) == reference
    partials = [" ".join(e["text"].split()) for e in lines if e["type"] == "partial"]
    assert len(partials) >= 3  # captions came step by step, each one growing the last
    assert all(reference.startswith(p.rstrip()) for p in partials)


def test_the_websocket_streams_what_nemo_streams(streaming_models, recording, tmp_path):
    """RNN-T this time; every look-ahead, asked for in the stream's start message, and two
    streams at once (their steps batched, caches stacked) each get their own exact text."""
    from parakeet_desktop.engine.model.loader import load_model

    audio, _ = recording
    model = load_model(str(streaming_models["rnnt"]), "cpu", boosting=True)  # as serve loads it
    assert model.streaming_contexts == ((70, 13), (70, 6), (70, 1), (70, 0))
    with in_process_service(model, tmp_path / "config") as (service, _, _):
        ws_url = ws_address(service)

        def final_of(result) -> str:
            finals = [e for e in result["events"] if e["type"] == "transcription" and e["is_final"]]
            assert len(finals) == 1, result["events"]
            return " ".join(finals[0]["text"].split())

        for step_ms in STEPS_MS:
            result = asyncio.run(stream_samples(ws_url, audio, token=service.token, realtime=False, step_ms=step_ms))
            assert final_of(result) == nemo_streamed(streaming_models["rnnt"], gated(audio), step_ms)

        other = audio[::-1].copy()  # other audio, the same length: its steps come with the first's

        async def both():
            return await asyncio.gather(
                stream_samples(ws_url, audio, token=service.token, step_ms=160),
                stream_samples(ws_url, other, token=service.token, step_ms=160))

        first, second = asyncio.run(both())
        assert final_of(first) == nemo_streamed(streaming_models["rnnt"], gated(audio), 160)
        assert final_of(second) == nemo_streamed(streaming_models["rnnt"], gated(other), 160)

        # A stream's own phrases reach the cache-aware decoder (NeMo's per-stream boosting).
        boosted = asyncio.run(stream_samples(ws_url, audio, token=service.token, realtime=False, step_ms=560,
                                             keywords=["seven green bottles"]))
        assert not [e for e in boosted["events"] if e["type"] in ("error", "warning")], boosted["events"]
        assert final_of(boosted)

        bad = asyncio.run(stream_samples(ws_url, audio[:1600], token=service.token, step_ms="fast"))
        assert any(e["type"] == "error" and "step_ms" in e["message"] for e in bad["events"])
        odd = asyncio.run(stream_samples(ws_url, audio[:1600], token=service.token, latency=["fast"]))
        assert any(e["type"] == "error" and "latency must be one of" in e["message"] for e in odd["events"])


def test_the_latency_setting_picks_the_step(streaming_models):
    from parakeet_desktop.engine.model.loader import load_model
    from parakeet_desktop.engine.recognize.cache_aware import CacheAwareConfig, step_seconds
    from parakeet_desktop.engine.recognize.stream_route import route_config
    from parakeet_desktop.engine.recognize.streaming import StreamingChoice, StreamingConfig

    model = load_model(str(streaming_models["tdt"]), "cpu")
    assert step_seconds(model) == (0.08, 0.16, 0.56, 1.12)
    assert route_config(StreamingChoice(latency="fast"), model) == CacheAwareConfig(0.08)
    assert route_config(StreamingChoice(latency="balanced"), model) == CacheAwareConfig(1.12)  # on a CPU
    assert route_config(StreamingChoice(latency="accurate"), model) == CacheAwareConfig(1.12)
    assert route_config(StreamingChoice(step=0.2), model) == CacheAwareConfig(0.16)
    # Sizes for the buffered scheme do not make a streaming model re-encode buffers.
    assert isinstance(route_config(StreamingConfig(0.48, 10.0, 2.4), model), CacheAwareConfig)
    model.device = "cuda"  # what the device default would be there (nothing runs)
    try:
        assert route_config(StreamingChoice(), model) == CacheAwareConfig(0.16)
    finally:
        model.device = "cpu"


@pytest.fixture(scope="module")
def end_of_utterance_model(tmp_path_factory):
    """A tiny cache-aware model whose vocabulary has ``<EOU>``, biased to write it about once in
    two seconds of speech (a random model would write it never or everywhere)."""
    speech = np.concatenate([speak("a short sentence about the sea"), silence(0.5), speak("and another one")])

    def likely(model) -> None:
        model.encoder.set_default_att_context_size([70, 1])
        make_marks_likely(model, speech, "<EOU>", per_second=0.5)

    return write_nemo(TINY_STREAMING, tmp_path_factory.mktemp("eou") / "tiny-eou.nemo", seed=3,
                      symbols=("<EOU>", "<EOB>"), adjust=likely)


def test_a_models_end_of_utterance_mark_ends_hands_free_utterances(end_of_utterance_model, recording):
    from parakeet_desktop.engine.live.dictation import DictationSession, LiveSettings
    from parakeet_desktop.engine.live.events import Final, FinalReason
    from parakeet_desktop.engine.live.modes import FinalPass, Mode
    from parakeet_desktop.engine.model.loader import load_model
    from parakeet_desktop.engine.recognize.streaming import StreamingChoice

    model = load_model(str(end_of_utterance_model), "cpu")
    settings = LiveSettings(streaming=StreamingChoice(step=0.16), final_pass=FinalPass.AUTO)
    audio, _ = recording
    passed = gated(audio, settings)

    def run(mode: Mode) -> list[Final]:
        recorder = Recorder()
        session = DictationSession(model, settings, recorder)
        session.start(mode)
        for start in range(0, len(audio), 1600):
            session.feed(audio[start : start + 1600])
        session.stop()
        return recorder.of(Final)

    held = run(Mode.PUSH_TO_TALK)  # push-to-talk: one utterance, the marks only taken out of the text
    assert len(held) == 1 and held[0].reason is FinalReason.STOP
    assert "<EOU>" not in held[0].text and "<EOB>" not in held[0].text

    finals = run(Mode.HANDS_FREE)
    ended = [f for f in finals if f.reason is FinalReason.END_OF_UTTERANCE]
    assert ended, "the model wrote no end-of-utterance mark: nothing to check"
    assert all("<EOU>" not in f.text and "<EOB>" not in f.text for f in finals)
    assert [f.utterance for f in finals] == sorted(f.utterance for f in finals)
    # The utterances follow one another without overlap, and the last reaches as far into the
    # recording as the one push-to-talk utterance did: the audio after each mark went on into the
    # next (a piece between them is gone only when it held no words: the pause after a mark).
    for before, after in zip(finals, finals[1:]):
        assert after.start >= before.end - 0.05
    assert abs(finals[-1].end - held[0].end) < 0.1
    assert sum(f.seconds for f in finals) <= len(passed) / 16000 + 0.05


@pytest.fixture(scope="module")
def long_talk_in_pieces():
    """A sentence and a pause, to be fed over and over for ten minutes of one utterance."""
    return np.concatenate([speak("we keep talking for a long time about nothing at all"), silence(0.3)])


def test_a_ten_minute_utterance_keeps_flat_state(streaming_models, monkeypatch, long_talk_in_pieces):
    """Each step's input and the encoder's caches stay the same size however long the
    utterance: memory that grows with it is only its audio (kept to be saved)."""
    from parakeet_desktop.engine.model.loader import load_model
    from parakeet_desktop.engine.recognize import cache_aware

    model = load_model(str(streaming_models["tdt"]), "cpu")
    shapes: list[tuple] = []

    def encode_steps(model, steps, context, cancel=None):  # the real one, its inputs and outputs noted
        outputs = real(model, steps, context, cancel)
        shapes.append((tuple(steps[0].features.shape), tuple(outputs[0].caches.channel.shape),
                       tuple(outputs[0].caches.time.shape)))
        return outputs

    real = cache_aware.encode_steps
    monkeypatch.setattr(cache_aware, "encode_steps", encode_steps)
    transcriber = cache_aware.CacheAwareTranscriber(model, cache_aware.CacheAwareConfig(1.12))
    speech = long_talk_in_pieces
    seconds = 0.0
    while seconds < 600:
        transcriber.accept(speech)
        seconds += len(speech) / 16000
    assert len(shapes) > 500 and len(set(shapes[1:])) == 1, set(shapes)
    recognition = transcriber.finish()
    assert recognition.words and recognition.words[-1].end > 590
