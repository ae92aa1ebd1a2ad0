"""The committed models that really recognise speech (tests/fixtures, trained by
tools/train_fixture_model.py) and the report of their training."""

from __future__ import annotations

import json
from pathlib import Path

from tools.speech import FIXTURE_TRAINING_REPORT

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SPEECH_MODEL = FIXTURES / "speech-tdt.nemo"
# Who said what (tools/train_diarization_fixture.py, tools/train_speaker_fixture.py).
DIARIZATION_MODEL = FIXTURES / "diarization-sortformer.nemo"
SPEAKER_MODEL = FIXTURES / "speaker-titanet.nemo"
STREAMING_MODEL = FIXTURES / "speech-streaming.nemo"  # cache-aware


def speech_model_report() -> dict:
    """How the committed speech model was trained (written by tools/train_fixture_model.py)."""
    return json.loads(FIXTURE_TRAINING_REPORT.read_text())
