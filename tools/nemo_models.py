"""Random-weight NeMo models of Parakeet's class, built from a config, for tests and benchmarks.

Model hubs are unreachable on the build machines, so tests and benchmarks build their own
``EncDecRNNTBPEModel`` with TDT decoding: a tiny one for plumbing tests, and a twin with
parakeet-tdt-0.6b-v3's layer sizes (so the compute is real) for benchmarks. Both are written as
``.nemo`` files and loaded back through the app's own loader, the same way a user's file is.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

TDT_DURATIONS = [0, 1, 2, 3, 4]

_SYLLABLES = [
    c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou", "ea")
]


@dataclass(frozen=True)
class ModelShape:
    """Layer sizes of a FastConformer-TDT model."""

    n_layers: int
    d_model: int
    n_heads: int
    subsampling_channels: int
    pred_hidden: int
    joint_hidden: int
    pred_rnn_layers: int
    features: int
    vocab_size: int
    # A cache-aware streaming encoder (causal convolutions, attention limited to a left context
    # and these look-aheads), as nemotron-speech-streaming's; empty: full context, as Parakeet's.
    lookaheads: tuple[int, ...] = ()
    left_context: int = 70
    # TDT (Parakeet) or plain RNN-T (nemotron-speech-streaming) decoding.
    tdt: bool = True


TINY = ModelShape(
    n_layers=2, d_model=64, n_heads=4, subsampling_channels=32, pred_hidden=64,
    joint_hidden=64, pred_rnn_layers=1, features=80, vocab_size=64,
)

# parakeet-tdt-0.6b-v3, from its model card and config (see NEMO-NOTES.md).
PARAKEET_TDT_V3 = ModelShape(
    n_layers=24, d_model=1024, n_heads=8, subsampling_channels=256, pred_hidden=640,
    joint_hidden=640, pred_rnn_layers=2, features=128, vocab_size=8192,
)


# parakeet-tdt_ctc-110m (the CPU's recommended model): FastConformer of 17 layers of 512, 80 features.
PARAKEET_TDT_CTC_110M = ModelShape(
    n_layers=17, d_model=512, n_heads=8, subsampling_channels=256, pred_hidden=640,
    joint_hidden=640, pred_rnn_layers=1, features=80, vocab_size=1024,
)


# A tiny cache-aware model with nemotron-speech-streaming's four look-aheads, TDT or RNN-T.
TINY_STREAMING = ModelShape(
    n_layers=2, d_model=64, n_heads=4, subsampling_channels=32, pred_hidden=64,
    joint_hidden=64, pred_rnn_layers=1, features=80, vocab_size=64, lookaheads=(13, 6, 1, 0),
)

# nemotron-speech-streaming-en-0.6b: a cache-aware FastConformer of the 0.6B Parakeet's sizes
# (24 layers, d_model 1024, 8 heads, 128 mel features), left context 70 frames, look-aheads of
# 0, 1, 6 and 13 frames (steps of 80 to 1120 ms), RNN-T decoder (2-layer LSTM 640, joint 640).
# The vocabulary size is not on its card; 1024 pieces, as NVIDIA's English streaming models.
NEMOTRON_STREAMING = ModelShape(
    n_layers=24, d_model=1024, n_heads=8, subsampling_channels=256, pred_hidden=640,
    joint_hidden=640, pred_rnn_layers=2, features=128, vocab_size=1024, lookaheads=(13, 6, 1, 0),
    tdt=False,
)


def _tokenizer_corpus(lines: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = ["".join(rng.choices(_SYLLABLES, k=rng.randint(1, 4))) for _ in range(20000)]
    return [" ".join(rng.choices(words, k=12)) for _ in range(lines)]


def build_tokenizer(folder: Path, vocab_size: int, seed: int = 0, texts: list[str] | None = None,
                    symbols: tuple[str, ...] = ()) -> Path:
    """Train a SentencePiece BPE tokenizer on *texts* (made-up words if None); write the folder
    NeMo expects (``tokenizer.model`` and ``vocab.txt``). *symbols*: pieces of their own, such as
    an end-of-utterance model's ``<EOU>``."""
    import sentencepiece as spm

    folder.mkdir(parents=True, exist_ok=True)
    corpus = folder / "corpus.txt"
    if texts is None:
        texts = _tokenizer_corpus(40000 if vocab_size > 1000 else 2000, seed)
    corpus.write_text("\n".join(texts) + "\n")
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(folder / "tokenizer"), vocab_size=vocab_size,
        model_type="bpe", character_coverage=1.0, bos_id=-1, eos_id=-1, unk_id=0,
        hard_vocab_limit=False, minloglevel=2, num_threads=2, user_defined_symbols=list(symbols),
    )
    processor = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    (folder / "vocab.txt").write_text(
        "\n".join(processor.id_to_piece(i) for i in range(processor.get_piece_size())) + "\n"
    )
    corpus.unlink()
    return folder


def model_config(shape: ModelShape, tokenizer_dir: Path) -> dict:
    """The config of a FastConformer encoder, LSTM prediction net and TDT joint, as Parakeet has
    (cache-aware and RNN-T as the shape says)."""
    config = {
        "sample_rate": 16000,
        "model_defaults": {
            "enc_hidden": shape.d_model, "pred_hidden": shape.pred_hidden,
            "joint_hidden": shape.joint_hidden, "tdt_durations": TDT_DURATIONS,
            "num_tdt_durations": len(TDT_DURATIONS),
        },
        "tokenizer": {"dir": str(tokenizer_dir), "type": "bpe"},
        "preprocessor": {
            "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
            "sample_rate": 16000, "normalize": "per_feature", "window_size": 0.025,
            "window_stride": 0.01, "window": "hann", "features": shape.features, "n_fft": 512,
            "log": True, "frame_splicing": 1, "dither": 1e-5, "pad_to": 0, "pad_value": 0.0,
        },
        "encoder": {
            "_target_": "nemo.collections.asr.modules.ConformerEncoder",
            "feat_in": shape.features, "feat_out": -1, "n_layers": shape.n_layers,
            "d_model": shape.d_model, "subsampling": "dw_striding", "subsampling_factor": 8,
            "subsampling_conv_channels": shape.subsampling_channels, "causal_downsampling": False,
            "ff_expansion_factor": 4, "self_attention_model": "rel_pos", "n_heads": shape.n_heads,
            "att_context_size": [-1, -1], "xscaling": False, "untie_biases": True,
            "pos_emb_max_len": 5000, "conv_kernel_size": 9, "conv_norm_type": "batch_norm",
            "dropout": 0.1, "dropout_pre_encoder": 0.1, "dropout_emb": 0.0, "dropout_att": 0.1,
        },
        "decoder": {
            "_target_": "nemo.collections.asr.modules.RNNTDecoder", "normalization_mode": None,
            "random_state_sampling": False, "blank_as_pad": True,
            "prednet": {"pred_hidden": shape.pred_hidden, "pred_rnn_layers": shape.pred_rnn_layers,
                        "t_max": None, "dropout": 0.2},
        },
        "joint": {
            "_target_": "nemo.collections.asr.modules.RNNTJoint", "log_softmax": None,
            "preserve_memory": False, "fuse_loss_wer": False, "fused_batch_size": 4,
            "num_extra_outputs": len(TDT_DURATIONS),
            "jointnet": {"joint_hidden": shape.joint_hidden, "activation": "relu", "dropout": 0.2},
        },
        "decoding": {
            "strategy": "greedy_batch", "model_type": "tdt", "durations": TDT_DURATIONS,
            "greedy": {"max_symbols": 10},
        },
        "loss": {"loss_name": "tdt", "tdt_kwargs": {
            "fastemit_lambda": 0.0, "clamp": -1.0, "durations": TDT_DURATIONS,
            "sigma": 0.02, "omega": 0.1}},
    }
    if shape.lookaheads:
        # As NVIDIA's cache-aware models: no per-utterance normalisation (a stream has no whole
        # utterance to normalise over), causal convolutions and subsampling, chunked attention.
        config["preprocessor"]["normalize"] = "NA"
        config["encoder"].update(
            att_context_size=[[shape.left_context, ahead] for ahead in shape.lookaheads],
            att_context_style="chunked_limited", att_context_probs=None, conv_context_size="causal",
            causal_downsampling=True)
    if not shape.tdt:
        del config["model_defaults"]["tdt_durations"], config["model_defaults"]["num_tdt_durations"]
        config["joint"]["num_extra_outputs"] = 0
        config["decoding"] = {"strategy": "greedy_batch", "greedy": {"max_symbols": 10}}
        config["loss"] = {"loss_name": "default"}
    return config


def build_model(shape: ModelShape, workdir: Path, seed: int = 0, symbols: tuple[str, ...] = ()):
    """A random-weight ``EncDecRNNTBPEModel`` (TDT decoding unless the shape says RNN-T), in eval
    mode on the CPU."""
    import torch
    from nemo.collections.asr.models import EncDecRNNTBPEModel
    from nemo.utils import logging as nemo_logging
    from omegaconf import OmegaConf

    nemo_logging.setLevel(logging.ERROR)
    torch.manual_seed(seed)
    tokenizer_dir = build_tokenizer(workdir / "tokenizer", shape.vocab_size, seed, symbols=symbols)
    model = EncDecRNNTBPEModel(cfg=OmegaConf.create(model_config(shape, tokenizer_dir)))
    return model.eval()


def write_nemo(shape: ModelShape, path: Path, seed: int = 0, symbols: tuple[str, ...] = (),
               adjust=None) -> Path:
    """Build a random-weight model and save it as a ``.nemo`` file at *path*; *adjust* (called
    with the model, made responsive) may change its weights first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    model = build_model(shape, path.parent / f"{path.stem}-build", seed, symbols)
    make_responsive(model)
    if adjust is not None:
        adjust(model)
    model.save_to(str(path))
    return path


def _with_bias(model, audio, token: int):
    """A function of a bias for *token*'s joint output that decodes *audio* (encoded once) with
    that bias and returns the tokens."""
    import torch

    with torch.inference_mode():
        signal = torch.as_tensor(audio, dtype=torch.float32)[None]
        features, lengths = model.preprocessor(input_signal=signal, length=torch.tensor([signal.shape[1]]))
        encoded, encoded_lengths = model.encoder(audio_signal=features, length=lengths)
    bias = model.joint.joint_net[-1].bias

    def decoded(boost: float) -> list[int]:
        with torch.no_grad():
            bias[token] = boost
        with torch.inference_mode():
            hyps = model.decoding.rnnt_decoder_predictions_tensor(
                encoder_output=encoded, encoded_lengths=encoded_lengths, return_hypotheses=True)
        hyps = hyps[0] if isinstance(hyps, tuple) else hyps
        return [int(t) for t in hyps[0].y_sequence]

    return decoded


def make_marks_likely(model, audio, piece: str, per_second: float) -> float:
    """Raise the joint's bias for *piece* (a symbol such as ``<EOU>``) until offline decoding of
    *audio* (16 kHz) writes it about *per_second* times a second; returns the rate reached. A
    random model otherwise writes it never or everywhere."""

    from parakeet_desktop.engine.audio.decode import SAMPLE_RATE

    token = list(model.tokenizer.vocab).index(piece)
    seconds = len(audio) / SAMPLE_RATE
    decoded = _with_bias(model, audio, token)

    def rate(boost: float) -> float:
        return sum(t == token for t in decoded(boost)) / seconds

    low, high = -50.0, 50.0
    for _ in range(30):
        middle = (low + high) / 2
        if rate(middle) < per_second:
            low = middle
        else:
            high = middle
    return rate(high)


def make_responsive(model) -> None:
    """Scale the joint so that a random model's text depends on the audio.

    With the default initialisation the joint's bias dominates and a random model writes the same
    token over and over, whatever it hears; tests that compare texts need text that varies.
    """
    import torch

    with torch.no_grad():
        model.joint.joint_net[-1].bias.zero_()
        model.joint.joint_net[-1].weight.mul_(6.0)
        model.joint.enc.weight.mul_(3.0)


def make_sparse(model, audio, tokens_per_second: float = 3.5) -> float:
    """Bias a random model's joint towards blank until it emits about *tokens_per_second* on
    *audio* (16 kHz samples), as real speech does (3-4 tokens a second for Parakeet's 8192
    pieces); returns the rate reached.

    A random joint emits many times more tokens than speech has, so its decoding costs several
    times its encoding and a benchmark of it says little about a trained model. The blank logit
    is raised by bisection, decoding one fixed encoder output each time.
    """

    from parakeet_desktop.engine.audio.decode import SAMPLE_RATE

    make_responsive(model)
    model.eval()
    seconds = len(audio) / SAMPLE_RATE
    decoded = _with_bias(model, audio, model.decoder.blank_idx)

    def rate(boost: float) -> float:
        return len(decoded(boost)) / seconds

    low, high = 0.0, 1.0
    while rate(high) > tokens_per_second and high < 1e4:
        low, high = high, high * 2
    for _ in range(12):
        middle = (low + high) / 2
        low, high = (middle, high) if rate(middle) > tokens_per_second else (low, middle)
    return rate(high)


def nemo_transcribe(model, audio, batch_size: int = 1, timestamps: bool = False) -> list:
    """NeMo's own ``transcribe()`` of a ParakeetModel's NeMo model, the baseline the benchmarks
    compare with: under autocast to the model's half type on a GPU (as NeMo's scripts run it,
    and so that its fp32 features meet a half-precision encoder), eval mode restored after
    (``transcribe()`` leaves the encoder training)."""
    import torch

    half = model.device == "cuda" and model.dtype != "float32"
    try:
        with torch.autocast("cuda", dtype=getattr(torch, model.dtype), enabled=half):
            return model.nemo.transcribe(audio if isinstance(audio, list) else [audio],
                                         batch_size=batch_size, timestamps=timestamps, verbose=False)
    finally:
        model.nemo.eval()


@dataclass(frozen=True)
class SortformerShape:
    """Layer sizes of a Sortformer diarizer: a FastConformer encoder, a Transformer encoder and
    sigmoid outputs, one per speaker."""

    fc_layers: int
    fc_d_model: int
    fc_heads: int
    subsampling_channels: int
    tf_layers: int
    tf_d_model: int
    tf_inner: int
    tf_heads: int
    features: int
    speakers: int = 4
    dropout: float = 0.1


# diar_streaming_sortformer_4spk-v2(.1), from NeMo's streaming_sortformer_diarizer_4spk-v2.yaml.
SORTFORMER_4SPK_V2 = SortformerShape(
    fc_layers=17, fc_d_model=512, fc_heads=8, subsampling_channels=256, tf_layers=18, tf_d_model=192,
    tf_inner=768, tf_heads=8, features=128, dropout=0.5,
)

# The trained test fixture's (tools/train_diarization_fixture.py).
SORTFORMER_FIXTURE = SortformerShape(
    fc_layers=4, fc_d_model=128, fc_heads=4, subsampling_channels=64, tf_layers=2, tf_d_model=96,
    tf_inner=384, tf_heads=4, features=80,
)


def sortformer_config(shape: SortformerShape, streaming: bool = True) -> dict:
    """The config of a ``SortformerEncLabelModel`` as NVIDIA's streaming 4-speaker one has it
    (unnormalised log-mel features, 8x subsampling, 80 ms output frames, the speaker cache and
    FIFO sizes of its published config)."""
    return {
        "sample_rate": 16000, "pil_weight": 0.5, "ats_weight": 0.5, "max_num_of_spks": shape.speakers,
        "streaming_mode": streaming,
        "model_defaults": {"fc_d_model": shape.fc_d_model, "tf_d_model": shape.tf_d_model},
        "preprocessor": {
            "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
            "normalize": "NA", "window_size": 0.025, "sample_rate": 16000, "window_stride": 0.01,
            "window": "hann", "features": shape.features, "n_fft": 512, "frame_splicing": 1, "dither": 1e-5,
        },
        "sortformer_modules": {
            "_target_": "nemo.collections.asr.modules.sortformer_modules.SortformerModules",
            "num_spks": shape.speakers, "dropout_rate": shape.dropout, "fc_d_model": shape.fc_d_model,
            "tf_d_model": shape.tf_d_model, "spkcache_len": 188, "fifo_len": 188, "chunk_len": 188,
            "spkcache_update_period": 188, "chunk_left_context": 1, "chunk_right_context": 1,
            "spkcache_sil_frames_per_spk": 3, "scores_add_rnd": 0, "pred_score_threshold": 0.25,
            "max_index": 99999, "scores_boost_latest": 0.05, "sil_threshold": 0.2, "strong_boost_rate": 0.75,
            "weak_boost_rate": 1.5, "min_pos_scores_rate": 0.5, "causal_attn_rate": 0.0, "causal_attn_rc": 7,
        },
        "encoder": {
            "_target_": "nemo.collections.asr.modules.ConformerEncoder",
            "feat_in": shape.features, "feat_out": -1, "n_layers": shape.fc_layers, "d_model": shape.fc_d_model,
            "subsampling": "dw_striding", "subsampling_factor": 8,
            "subsampling_conv_channels": shape.subsampling_channels, "causal_downsampling": False,
            "ff_expansion_factor": 4, "self_attention_model": "rel_pos", "n_heads": shape.fc_heads,
            "att_context_size": [-1, -1], "att_context_style": "regular", "xscaling": True,
            "untie_biases": True, "pos_emb_max_len": 5000, "conv_kernel_size": 9,
            "conv_norm_type": "batch_norm", "conv_context_size": None, "dropout": 0.1,
            "dropout_pre_encoder": 0.1, "dropout_emb": 0.0, "dropout_att": 0.1,
        },
        "transformer_encoder": {
            "_target_": "nemo.collections.asr.modules.transformer.transformer_encoders.TransformerEncoder",
            "num_layers": shape.tf_layers, "hidden_size": shape.tf_d_model, "inner_size": shape.tf_inner,
            "num_attention_heads": shape.tf_heads, "attn_score_dropout": shape.dropout,
            "attn_layer_dropout": shape.dropout, "ffn_dropout": shape.dropout, "hidden_act": "relu",
            "pre_ln": False, "pre_ln_final_layer_norm": True,
        },
        "loss": {"_target_": "nemo.collections.asr.losses.bce_loss.BCELoss", "weight": None, "reduction": "mean"},
    }


def build_sortformer(shape: SortformerShape, seed: int = 0, streaming: bool = True):
    """A random-weight ``SortformerEncLabelModel`` of *shape*, in eval mode on the CPU."""
    import torch
    from nemo.collections.asr.models import SortformerEncLabelModel
    from omegaconf import OmegaConf

    torch.manual_seed(seed)
    return SortformerEncLabelModel(cfg=OmegaConf.create(sortformer_config(shape, streaming))).eval()


@dataclass(frozen=True)
class TitaNetShape:
    """Layer sizes of a TitaNet speaker embedding model."""

    filters: int
    repeat: int
    features_out: int
    embedding: int
    features: int = 80


# speakerverification_en_titanet_large, from NeMo's titanet-large.yaml.
TITANET_LARGE = TitaNetShape(filters=1024, repeat=3, features_out=3072, embedding=192)
# The trained test fixture's (tools/train_speaker_fixture.py).
TITANET_FIXTURE = TitaNetShape(filters=96, repeat=1, features_out=384, embedding=96)


def titanet_config(shape: TitaNetShape, classes: int) -> dict:
    """The config of an ``EncDecSpeakerLabelModel`` as TitaNet's: per-feature normalised
    log-mels, SE-separable convolution blocks of kernels 3/7/11/15/1, attention pooling, an
    angular-margin softmax."""
    def block(filters: int, kernel: int, repeat: int, residual: bool) -> dict:
        return {"filters": filters, "repeat": repeat, "kernel": [kernel], "stride": [1], "dilation": [1],
                "dropout": 0.1 if residual else 0.0, "residual": residual, "separable": True, "se": True,
                "se_context_size": -1}

    return {
        "sample_rate": 16000,
        "train_ds": None, "validation_ds": None,
        "preprocessor": {
            "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
            "normalize": "per_feature", "window_size": 0.025, "sample_rate": 16000, "window_stride": 0.01,
            "window": "hann", "features": shape.features, "n_fft": 512, "frame_splicing": 1, "dither": 1e-5,
        },
        "encoder": {
            "_target_": "nemo.collections.asr.modules.ConvASREncoder", "feat_in": shape.features,
            "activation": "relu", "conv_mask": True,
            "jasper": [block(shape.filters, 3, 1, False), block(shape.filters, 7, shape.repeat, True),
                       block(shape.filters, 11, shape.repeat, True), block(shape.filters, 15, shape.repeat, True),
                       block(shape.features_out, 1, 1, False)],
        },
        "decoder": {
            "_target_": "nemo.collections.asr.modules.SpeakerDecoder", "feat_in": shape.features_out,
            "num_classes": classes, "pool_mode": "attention", "emb_sizes": shape.embedding,
        },
        "loss": {"_target_": "nemo.collections.asr.losses.angularloss.AngularSoftmaxLoss", "scale": 30,
                 "margin": 0.2},
    }


def build_titanet(shape: TitaNetShape, classes: int = 16681, seed: int = 0):
    """A random-weight ``EncDecSpeakerLabelModel`` of *shape*, in eval mode on the CPU."""
    import torch
    from nemo.collections.asr.models import EncDecSpeakerLabelModel
    from omegaconf import OmegaConf

    torch.manual_seed(seed)
    return EncDecSpeakerLabelModel(cfg=OmegaConf.create(titanet_config(shape, classes))).eval()
