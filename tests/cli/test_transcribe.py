"""The command line as a user runs it: real files in, files out, one clear line per problem."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import soundfile

from support.cli import run_cli
from support.corpus import build_corpus, first_speech


def test_transcribes_good_files_and_names_each_bad_one(tmp_path, tiny_nemo, speech_wavs):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    speech = first_speech(speech_wavs)
    cases = build_corpus(corpus, speech)
    # One name in several formats and folders, and an output that is there already (a transcript
    # corrected by hand): each input gets its own output and the user's file stays as it was.
    (corpus / "sub").mkdir()
    same_name = [corpus / "talk.wav", corpus / "talk.flac", corpus / "talk.ogg", corpus / "sub" / "talk.wav"]
    for path in same_name:
        ogg = {"format": "OGG", "subtype": "VORBIS"} if path.suffix == ".ogg" else {}
        soundfile.write(path, speech, 16000, **ogg)
    out = tmp_path / "out"
    out.mkdir()
    (out / "talk.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\ncorrected by hand\n")
    files = [str(corpus / name) for name in cases] + [str(p) for p in same_name]
    result = run_cli("transcribe", *files, "--model", str(tiny_nemo), "--format", "srt,json",
                     "--output-dir", str(out))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    bad = [name for name, case in cases.items() if case.error is not None]
    assert len(error_lines) == len(bad), result.stderr
    for name in bad:
        assert sum(name in line for line in error_lines) == 1, (name, error_lines)
    for name, case in cases.items():
        stem = name.rsplit(".", 1)[0]
        if case.error is None:
            document = json.loads((out / f"{stem}.json").read_text("utf-8"))
            assert document["duration"] > 0
            assert (out / f"{stem}.srt").exists()
    assert "warning:" in result.stderr and "truncated.wav" in result.stderr
    assert (out / "talk.srt").read_text() == "1\n00:00:00,000 --> 00:00:01,000\ncorrected by hand\n"
    talk_json = sorted(out.glob("talk*.json"))
    talk_srt = sorted(set(out.glob("talk*.srt")) - {out / "talk.srt"})
    assert len(talk_json) == len(talk_srt) == len(same_name)
    for path in talk_json:
        assert json.loads(path.read_text("utf-8"))["duration"] > 0
    for path in same_name:  # the run says where each one went
        assert any(str(path) in line and "went to" in line for line in result.stderr.splitlines()), path


def test_all_good_files_exit_zero_and_print_to_stdout(tiny_nemo, speech_wavs):
    result = run_cli("transcribe", str(speech_wavs[0]), "--model", str(tiny_nemo),
                     "--format", "json", "--output-dir", "-")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["text"] and document["segments"]


def test_inputs_that_cannot_work_are_named_before_any_model_is_loaded(tmp_path):
    """`transcribe nothere.wav` answers at once: no model (not even torch) is loaded to say that a
    file is missing or a folder; the run ends with a summary line."""
    code = ("import sys; from parakeet_desktop.cli import main as cli;"
            f"rc = cli.main(['transcribe', 'nothere.wav', {str(tmp_path)!r},"
            " '--model', 'nvidia/parakeet-tdt-0.6b-v3']);"
            "print(rc, [m for m in ('torch', 'nemo') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.stdout.split("\n")[0] == "1 []", result.stdout + result.stderr
    assert result.stderr.splitlines() == ["error: nothere.wav: no such file",
                                          f"error: {tmp_path}: is a folder, not an audio file",
                                          "0 of 2 transcribed, 2 failed."]


def test_missing_model_exits_three_with_one_line(tmp_path, speech_wavs):
    result = run_cli("transcribe", str(speech_wavs[0]), "--model", str(tmp_path / "gone.nemo"))
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        f"error: Model file {tmp_path / 'gone.nemo'} does not exist."]


def test_bad_arguments_exit_two(speech_wavs):
    result = run_cli("transcribe", str(speech_wavs[0]), "--format", "docx")
    assert result.returncode == 2 and "unknown format" in result.stderr


def test_cli_start_up_imports_nothing_heavy():
    code = ("import sys; from parakeet_desktop.cli import main as cli; cli.build_parser().parse_args(['doctor']);"
            "heavy = [m for m in ('torch', 'nemo', 'PySide6', 'soundfile') if m in sys.modules];"
            "print(','.join(heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_doctor_reports_the_machine():
    result = run_cli("doctor", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["GPU"]["torch"]
    assert "GPU" in report["GPU"]
    assert report["NeMo"]["nemo_toolkit"] != "not installed"
    assert set(report["models"]) >= {"nvidia/parakeet-tdt-0.6b-v3"}
    assert "PortAudio" in report["audio"]
    assert "display server" in report["desktop"] and {"session", "hotkey", "typing"} <= set(report["desktop"])
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        assert report["desktop"]["session"] == "none"  # no display: said, not taken for X11
    assert report["app"]["configured model"]
    assert {"settings", "data folder", "history", "kept audio"} <= set(report["app"])
    text = run_cli("doctor")
    assert text.returncode == 0 and "nvidia/parakeet-tdt-0.6b-v3" in text.stdout


def test_help_lists_the_commands():
    result = run_cli("--help")
    for command in ("transcribe", "listen", "toggle", "status", "doctor"):
        assert command in result.stdout


def test_the_app_without_a_display_points_to_the_terminal_commands(monkeypatch, tmp_path):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    result = run_cli()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no graphical session" in result.stderr and "parakeet-desktop listen" in result.stderr


def test_control_commands_without_a_running_app(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    for command in ("toggle", "status"):
        result = run_cli(command)
        assert result.returncode == 1
        assert result.stderr.strip() == "Parakeet Desktop is not running; start it with: parakeet-desktop"


def test_outputs_never_collide_and_never_replace_a_users_file(tmp_path, tiny_nemo, speech_wavs):
    """talk.wav, talk.flac and sub/talk.wav into one folder give three outputs; a transcript
    already beside the input (perhaps corrected by hand) stays as it is unless --overwrite."""
    import os
    import stat

    import soundfile

    samples, rate = soundfile.read(speech_wavs[0], dtype="float32")
    (tmp_path / "sub").mkdir()
    inputs = [tmp_path / "talk.wav", tmp_path / "talk.flac", tmp_path / "sub" / "talk.wav"]
    for path in inputs:
        soundfile.write(path, samples, rate)
    corrected = tmp_path / "talk.txt"
    corrected.write_text("my own corrected transcript\n")
    out = tmp_path / "out"
    old_umask = os.umask(0o022)
    try:
        result = run_cli("transcribe", *map(str, inputs), "--model", str(tiny_nemo), "--output-dir", str(out))
        beside = run_cli("transcribe", str(inputs[0]), "--model", str(tiny_nemo))
    finally:
        os.umask(old_umask)
    assert result.returncode == 0, result.stderr
    printed = result.stdout.splitlines()
    assert printed == [str(out / "talk.txt"), str(out / "talk (2).txt"), str(out / "talk (3).txt")]
    assert sum("so this went to" in line for line in result.stderr.splitlines()) == 2
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o644 for p in printed)  # as the umask says
    assert beside.returncode == 0 and beside.stdout.splitlines() == [str(tmp_path / "talk (2).txt")]
    assert corrected.read_text() == "my own corrected transcript\n"
    again = run_cli("transcribe", str(inputs[0]), "--model", str(tiny_nemo), "--overwrite")
    assert again.returncode == 0 and again.stdout.split() == [str(corrected)]
    assert corrected.read_text() != "my own corrected transcript\n"


def test_long_speech_that_gave_no_text_is_reported(tmp_path):
    """Twenty seconds in the middle that sound like speech to the speech detector but give the
    model nothing to read (speech through a wall: nothing above 300 Hz): the command says so
    rather than hand back a short text in silence."""
    import numpy as np
    import soundfile
    from scipy import signal

    from support.models import SPEECH_MODEL
    from support.speech import held_out_utterances

    spoken = [speech for _, speech in held_out_utterances(16)]
    muffled = signal.sosfilt(signal.butter(8, 300, fs=16000, output="sos"), np.concatenate(spoken[8:16]))
    muffled = (muffled / np.abs(muffled).max() * 0.5).astype(np.float32)
    path = tmp_path / "long talk.wav"
    soundfile.write(path, np.concatenate([*spoken[:4], muffled, *spoken[4:8]]), 16000)
    result = run_cli("transcribe", str(path), "--model", str(SPEECH_MODEL), "--device", "cpu",
                     "--format", "json", "--output-dir", "-")
    assert result.returncode == 0, result.stderr
    words = [w for s in json.loads(result.stdout)["segments"] for w in s["words"]]
    gaps = [b["start"] - a["end"] for a, b in zip(words, words[1:])]
    assert "gave no text" in result.stderr
    assert max(gaps) >= 10  # the warning stands for a real hole in the words
