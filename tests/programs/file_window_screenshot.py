"""The file window with real results (the speech fixture model on espeak-ng speech, one broken
file) on the X server named by DISPLAY; saves a PNG and prints the window's size."""

import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile
from PySide6.QtWidgets import QApplication

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]

from parakeet_desktop.engine.model.loader import load_model  # noqa: E402
from parakeet_desktop.engine.recognize.files import FileTranscriber  # noqa: E402
from parakeet_desktop.ui.file_window import FileWindow  # noqa: E402
from support.models import SPEECH_MODEL  # noqa: E402
from support.speech import held_out_utterances  # noqa: E402

app = QApplication(sys.argv[:1])
folder = Path(tempfile.mkdtemp())
sentences = held_out_utterances(6)
paths = []
for n in range(2):
    paths.append(folder / f"voice memo {n + 1}.wav")
    audio = np.concatenate([part for _, s in sentences[3 * n : 3 * n + 3] for part in (s, np.zeros(12000, np.float32))])
    soundfile.write(paths[-1], audio, 16000)
broken = folder / "interview.m4a"
broken.write_bytes(b"not audio")
window = FileWindow()
window.show()
(folder / "transcripts").mkdir()
window.set_output_folder(folder / "transcripts")
window.add_files([*paths, broken])
# Short pieces: the fixture model knows one sentence at a time (see tests/fixtures/README.md).
transcriber = FileTranscriber(load_model(str(SPEECH_MODEL), "cpu"), max_piece_seconds=4)
for result in transcriber.transcribe_files([*paths, broken]):
    window.finished(result.path, result.transcript, result.error)
window.queue.selectRow(0)
window._show(window.transcripts[paths[0]])
app.processEvents()
window.grab().save(sys.argv[1])
print(f"{window.frameGeometry().width()}x{window.frameGeometry().height()}")
