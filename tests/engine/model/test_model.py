"""Loading Parakeet-class models through the app's loader, and recognising with them."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from parakeet_desktop.engine.audio.decode import SAMPLE_RATE, load_audio
from parakeet_desktop.engine.model.devices import CudaStatus, plan_device
from parakeet_desktop.engine.model.loader import load_model, restore
from parakeet_desktop.engine.model.speech import ModelError, Recognition
from parakeet_desktop.engine.recognize.files import FileTranscriber


def _nemo_texts(model, pieces) -> list[str]:
    """NeMo's own transcribe() on the same audio, one piece at a time."""
    try:
        return [h.text for h in model.nemo.transcribe(pieces, batch_size=1, verbose=False)]
    finally:
        model.nemo.eval()


def test_loads_local_nemo_through_the_loader_on_cpu(model):
    from nemo.collections.asr.models import EncDecRNNTBPEModel

    assert isinstance(model.nemo, EncDecRNNTBPEModel)
    assert model.nemo.cfg.decoding.model_type == "tdt"
    assert model.device == "cpu" and model.dtype == "float32"
    assert model.frame_seconds == pytest.approx(0.08)
    assert not any(module.training for module in model.nemo.modules())


def test_file_text_equals_nemo_transcribe(model, speech_wavs):
    transcriber = FileTranscriber(model)
    results = list(transcriber.transcribe_files(speech_wavs))
    pieces = [load_audio(path).samples for path in speech_wavs]
    expected = _nemo_texts(model, pieces)
    assert [r.transcript.text for r in results] == expected
    assert len(set(expected)) == len(expected), "the test model must say different things"
    assert all(text.strip() for text in expected)


def test_nemo_transcribe_leaves_no_dropout_behind(model, speech_wavs):
    """NeMo's transcribe() leaves the encoder training; our path must not inherit that."""
    audio = load_audio(speech_wavs[1]).samples
    before = model.recognize([audio])[0].text
    _nemo_texts(model, [audio])
    model.nemo.encoder.train()  # as transcribe() leaves it
    assert model.recognize([audio])[0].text == before


def test_timestamps_are_monotonic_and_inside_the_audio(model, speech_wavs):
    transcriber = FileTranscriber(model)
    for result in transcriber.transcribe_files(speech_wavs):
        transcript = result.transcript
        words = transcript.words
        assert words, "random model still emits words"
        assert " ".join(w.text for w in words) == transcript.text
        previous_end = 0.0
        for word in words:
            assert 0.0 <= word.start <= word.end <= transcript.duration
            assert word.start >= previous_end - 1e-9
            previous_end = word.end
        for segment in transcript.segments:
            assert segment.start == segment.words[0].start and segment.end == segment.words[-1].end


def test_batched_recognition_equals_one_by_one(model, speech_wavs):
    pieces = [load_audio(path).samples for path in speech_wavs]
    together = model.recognize(pieces)
    alone = [model.recognize([piece])[0] for piece in pieces]
    assert [r.text for r in together] == [r.text for r in alone]


def test_very_short_and_silent_audio_do_not_fail(model):
    results = model.recognize([np.zeros(16, np.float32), np.zeros(SAMPLE_RATE * 2, np.float32)])
    assert len(results) == 2 and all(isinstance(r, Recognition) for r in results)


def test_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_model(str(tmp_path / "nowhere.nemo"), "cpu")


def test_text_file_named_nemo_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.nemo"
    path.write_text("not a model\n" * 100)
    with pytest.raises(ModelError, match="not a NeMo model file"):
        load_model(str(path), "cpu")


def test_truncated_nemo_is_a_clear_error(tmp_path, tiny_nemo):
    path = tmp_path / "cut.nemo"
    path.write_bytes(tiny_nemo.read_bytes()[: tiny_nemo.stat().st_size // 3])
    with pytest.raises(ModelError, match="cut.nemo"):
        load_model(str(path), "cpu")


def test_a_model_loads_where_tarfile_has_no_extraction_filters(tiny_nemo, monkeypatch):
    """Python before 3.11.4 (Debian 12's 3.11.2) has no ``filter`` for tarfile's extract, which
    NeMo passes: the model still loads (NeMo checks each member itself)."""
    def old_extract(self, member, path="", set_attrs=True, *, numeric_owner=False):
        return original(self, member, path, set_attrs, numeric_owner=numeric_owner, filter="data")

    original = tarfile.TarFile.extract
    monkeypatch.delattr(tarfile, "data_filter")
    monkeypatch.setattr(tarfile.TarFile, "extract", old_extract)
    model = load_model(str(tiny_nemo), "cpu", warm_up=False)
    assert model.name == tiny_nemo.name


def test_wrong_kind_of_nemo_is_a_clear_error(tmp_path):
    """A .nemo archive that holds no speech recognition model."""
    path = tmp_path / "other.nemo"
    config = b"target: nemo.collections.common.tokenizers.AutoTokenizer\nname: something\n"
    with tarfile.open(path, "w:") as archive:
        info = tarfile.TarInfo("model_config.yaml")
        info.size = len(config)
        archive.addfile(info, io.BytesIO(config))
    with pytest.raises(ModelError, match="other.nemo"):
        load_model(str(path), "cpu")


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ModelError, match="Unknown model"):
        load_model("parakeet please", "cpu")


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty Hugging Face cache; the hub address is a closed port (conftest)."""
    import huggingface_hub.constants as hub

    cache = tmp_path / "hub-cache"
    cache.mkdir()
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


def test_model_not_cached_and_no_network_is_a_clear_error(offline_hub):
    with pytest.raises(ModelError, match="not downloaded yet") as caught:
        load_model("nvidia/parakeet-tdt-0.6b-v3", "cpu", warm_up=False)
    assert "local .nemo" in str(caught.value)


def test_cached_hub_model_loads_without_network(offline_hub, tiny_nemo, speech_wavs, model):
    """A model in the Hugging Face cache layout loads with the hub unreachable."""
    repo = offline_hub / "models--nvidia--parakeet-tdt-0.6b-v3"
    snapshot = repo / "snapshots" / "0123456789abcdef0123456789abcdef01234567"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(snapshot.name)
    os.symlink(tiny_nemo, snapshot / "parakeet-tdt-0.6b-v3.nemo")
    loaded = load_model("nvidia/parakeet-tdt-0.6b-v3", "cpu")
    assert loaded.name == "nvidia/parakeet-tdt-0.6b-v3"
    audio = load_audio(speech_wavs[0]).samples
    assert loaded.recognize([audio])[0].text == model.recognize([audio])[0].text


def test_device_plan_without_gpu_falls_back_to_cpu_and_says_why():
    none = CudaStatus(False, "no NVIDIA GPU or driver was found")
    auto = plan_device("auto", none)
    assert (auto.device, auto.dtype) == ("cpu", "float32")
    assert "no NVIDIA GPU" in auto.notice
    forced = plan_device("cuda", none)
    assert forced.device == "cpu" and "requested" in forced.notice
    with pytest.raises(ValueError):
        plan_device("tpu", none)


def test_restore_refuses_non_transducer_models(tmp_path):
    """A real NeMo CTC model is a speech model, but not one this app can stream."""
    from nemo.collections.asr.models import EncDecCTCModelBPE
    from omegaconf import OmegaConf

    from tools.nemo_models import TINY, build_tokenizer, model_config

    config = model_config(TINY, build_tokenizer(tmp_path / "tok", TINY.vocab_size))
    config["decoder"] = {"_target_": "nemo.collections.asr.modules.ConvASRDecoder",
                         "feat_in": TINY.d_model, "num_classes": -1, "vocabulary": []}
    for key in ("joint", "loss", "model_defaults"):
        config.pop(key)
    config["decoding"] = {"strategy": "greedy_batch"}
    ctc = EncDecCTCModelBPE(cfg=OmegaConf.create(config))
    ctc.save_to(str(tmp_path / "ctc.nemo"))
    assert restore(str(tmp_path / "ctc.nemo")) is not None
    with pytest.raises(ModelError, match="not a Parakeet-style transducer"):
        load_model(str(tmp_path / "ctc.nemo"), "cpu")


def _checkpoint_of(nemo_file: Path, folder: Path) -> dict:
    with tarfile.open(nemo_file) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("model_weights.ckpt"))
        archive.extract(member, folder, filter="data")
    return torch.load(folder / member.name, map_location="cpu", weights_only=True)


def test_a_restored_model_holds_exactly_its_checkpoints_weights(tiny_nemo, tmp_path):
    # The constructor's random initialisers are skipped during a restore (the checkpoint
    # overwrites every weight): nothing of an initialiser may be left.
    weights = _checkpoint_of(tiny_nemo, tmp_path)
    restored = restore(str(tiny_nemo)).state_dict()
    assert restored.keys() == weights.keys()
    assert all(torch.equal(restored[name], value) for name, value in weights.items())
    # and the initialisers work again afterwards
    assert torch.nn.Linear(4, 4).weight.abs().sum() > 0


def test_a_model_file_missing_a_weight_is_refused(tiny_nemo, tmp_path):
    weights = _checkpoint_of(tiny_nemo, tmp_path / "unpacked")
    dropped = next(name for name in weights if name.startswith("encoder."))
    del weights[dropped]
    rebuilt = tmp_path / "short.nemo"
    with tarfile.open(tiny_nemo) as source, tarfile.open(rebuilt, "w") as target:
        for member in source.getmembers():
            if member.name.endswith("model_weights.ckpt"):
                torch.save(weights, tmp_path / "weights.ckpt")
                target.add(tmp_path / "weights.ckpt", arcname=member.name)
            else:
                target.addfile(member, source.extractfile(member) if member.isfile() else None)
    with pytest.raises(ModelError, match="short.nemo is damaged") as raised:
        load_model(str(rebuilt), "cpu")
    assert dropped in str(raised.value) and "Missing key" in str(raised.value)
