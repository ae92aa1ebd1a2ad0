"""The committed speech model really recognises held-out speech; its training script still runs."""

from __future__ import annotations

from parakeet_desktop.engine.recognize.files import FileTranscriber
from support.models import SPEECH_MODEL, speech_model_report
from support.speech import held_out_utterances, word_error_rate
from tools.fixture_corpus import VOCABULARY


def test_fixture_is_small_and_of_parakeets_class(speech_model):
    from nemo.collections.asr.models import EncDecRNNTBPEModel

    assert SPEECH_MODEL.stat().st_size < 15 * 2**20
    assert isinstance(speech_model.nemo, EncDecRNNTBPEModel)
    assert speech_model.nemo.cfg.decoding.model_type == "tdt"
    assert speech_model.nemo.encoder.subsampling_factor == 8
    vocabulary = (SPEECH_MODEL.parent / "speech-tdt.vocabulary.txt").read_text().split()
    assert vocabulary == VOCABULARY


def test_held_out_word_error_rate_is_at_most_ten_percent(speech_model):
    utterances = held_out_utterances(100)
    transcriber = FileTranscriber(speech_model)
    hypotheses = [transcriber.transcribe_array(audio).text for _, audio in utterances]
    wer = word_error_rate([text for text, _ in utterances], hypotheses)
    assert wer <= 0.10, f"held-out WER {wer:.1%}"
    assert speech_model_report()["held_out_wer"] <= 0.10


def test_training_script_runs_end_to_end(tmp_path, train_fixture_model):
    out = tmp_path / "smoke.nemo"
    result = train_fixture_model("--out", str(out), "--sentences", "24", "--held-out", "6", "--steps", "3",
                                 "--eval-every", "3", "--batch-seconds", "20")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "smoke.vocabulary.txt").read_text().split() == VOCABULARY
    from parakeet_desktop.engine.model.loader import load_model

    model = load_model(str(out), "cpu")
    assert model.recognize([held_out_utterances(1)[0][1]])[0].text is not None
