"""Every command the README and docs/ show, exercised: command lines are parsed by the parser of
the program they name (or its files checked, where the program is not ours), the JSON examples
read as the worker reads them, and the API's curl, openai and WebSocket examples run against a
real ``serve`` as a reader would run them (the service group). A command that no rule here knows
fails the test, so a new one cannot go unchecked."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile
import yaml

from parakeet_desktop.cli.main import build_parser
from support.groups import GROUPS
from support.models import DIARIZATION_MODEL, SPEAKER_MODEL, SPEECH_MODEL

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`([^`\n]+)`")
# Where the API's examples send their requests: the address the docs give, replaced by the test
# service's own.
DOC_ADDRESS = "127.0.0.1:8765"


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def for_the_service(self) -> bool:
        """A client of the service: Python that sends to it, or a command (not a comment) that does."""
        if self.lang == "sh":
            return any(DOC_ADDRESS in word for words in _shell_commands(self) for word in words)
        return self.lang == "python" and DOC_ADDRESS in self.text


def _blocks() -> list[Block]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            found.append(Block(doc.name, text.count("\n", 0, match.start()) + 1, match.group(1), match.group(2)))
    return found


def _shell_commands(block: Block) -> list[list[str]]:
    """Each command of a shell block as its words (continuations joined, comments dropped, one
    command per ``&&``)."""
    commands = []
    for line in block.text.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            commands.append(words[:cut])
            words = words[cut + 1:]
    return [c for c in commands if c]


def _inline_commands() -> list[tuple[str, list[str]]]:
    """Commands of ours shown inline (`parakeet-desktop …`, `tools/run-tests …`), except those
    written as a pattern of several (with |, …, <…> or [optional] parts)."""
    found = []
    for doc in DOCS:
        for span in INLINE.findall(doc.read_text(encoding="utf-8")):
            if span.split(" ")[0] in ("parakeet-desktop", "tools/run-tests") and not re.search(r"[|…<\[]", span):
                found.append((doc.name, shlex.split(span)))
    return found


def _check_ours(words: list[str], *, a_name: bool = False) -> None:
    """``parakeet-desktop ARGS`` as its own parser takes them; *a_name*: a command named in a
    sentence (``parakeet-desktop transcribe``), which need only exist."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(words[1:] + (["--help"] if a_name else []))
    except SystemExit as exc:
        if not (a_name and exc.code == 0):
            raise AssertionError(f"the parser refuses {shlex.join(words)}") from exc


def _check_run_tests(words: list[str]) -> None:
    script = ROOT / words[0]
    assert script.is_file() and os.access(script, os.X_OK), words[0]
    rest = iter(words[1:])
    for word in rest:
        if word == "-m":
            groups = set(re.findall(r"\w+", next(rest))) - {"and", "or", "not"}
            assert groups <= set(GROUPS), f"{shlex.join(words)}: no group {groups - set(GROUPS)}"
        elif word != "--fast":
            assert (ROOT / word.split("::")[0]).exists(), f"{shlex.join(words)}: {word} does not exist"


def _check_script(words: list[str]) -> None:
    """A bench (or another script of this repository) run with Python: its own ``--help`` names
    every option the docs give it."""
    script = ROOT / words[1]
    assert script.is_file(), words[1]
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    missing = [w.split("=")[0] for w in words[2:] if w.startswith("--") and w.split("=")[0] not in done.stdout]
    assert missing == [], f"{shlex.join(words)}: {script.name} has no {missing}"


def _check_shell_script(path: str) -> None:
    script = ROOT / path
    assert script.is_file() and os.access(script, os.X_OK), path
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0, path


def _check_pip(words: list[str]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for word in words[2:]:
        if match := re.fullmatch(r"parakeet-desktop\[(.+)\]", word):
            extras = set(match.group(1).split(","))
            assert extras <= set(project["optional-dependencies"]), f"no extra {extras}"
        elif word == "torch":
            assert any(d.startswith("torch") for d in project["dependencies"])
    if "-e" in words:
        assert words[words.index("-e") + 1] == "." and (ROOT / "pyproject.toml").exists()
    if "--index-url" in words:
        assert words[words.index("--index-url") + 1].startswith("https://download.pytorch.org/whl/")


def _check_apt(words: list[str]) -> None:
    """Debian packages a doc asks for: ones tools/run-tests installs too, so CI has used them."""
    installed = (ROOT / "tools" / "run-tests").read_text()
    for package in words[words.index("install") + 1:]:
        assert re.search(rf"\b{re.escape(package)}\b", installed), f"{package} is not one tools/run-tests installs"


def _check_compose(words: list[str]) -> None:
    compose = yaml.safe_load((ROOT / words[words.index("-f") + 1]).read_text())
    assert compose["services"] and words[words.index("-f") + 2:][:1] == ["up"]


def check_command(words: list[str], block: Block | None = None, *, inline: bool = False) -> None:
    """What a command shown in the docs is checked by; an unknown one fails. *inline*: shown in a
    sentence, where two words name a command rather than run it."""
    program = words[0]
    if program == "sudo":
        words, program = words[1:], words[1]
    if program == "parakeet-desktop":
        _check_ours(words, a_name=inline and len(words) == 2)
    elif program == "tools/run-tests":
        _check_run_tests(words)
    elif program in (".venv/bin/python", "python") and words[1].endswith(".py"):
        _check_script(words)
    elif program in ("./installer/install.sh", "bench/on-gpu.sh"):
        _check_shell_script(program)
    elif (program == "git" and words[1] == "clone") or words == ["cd", "parakeet-desktop"]:
        pass  # the clone of this repository and into it; CI runs .ci/run from a fresh clone
    elif program == "pip":
        _check_pip(words)
    elif program == "apt-get":
        _check_apt(words)
    elif program == "docker" and words[1] == "compose":
        _check_compose(words)  # and tests/test_deploy.py builds the image and serves from it
    elif block is not None and block.for_the_service:
        pass  # run against a real service below
    else:
        raise AssertionError(f"no rule checks {shlex.join(words)!r}: add one to tests/test_docs.py")


def test_every_fenced_block_is_of_a_kind_these_tests_run():
    kinds = {(b.lang, b.for_the_service) for b in _blocks()}
    # Text blocks are pictures (ARCHITECTURE.md's trees); nothing in them is run.
    assert {lang for lang, _ in kinds} <= {"sh", "python", "json", "text"}, kinds
    # Python is shown only as a client of the service (run against one below).
    assert ("python", False) not in kinds


def test_every_command_line_the_docs_show_is_one_its_program_takes():
    fenced = [(b, words) for b in _blocks() if b.lang == "sh" for words in _shell_commands(b)]
    inline = [words for _doc, words in _inline_commands()]
    assert len(fenced) > 20 and len(inline) > 20, "the docs' commands were found"
    for block, words in fenced:
        check_command(words, block)
    for words in inline:
        check_command(words, inline=True)


def test_a_command_no_rule_knows_fails_the_check():
    with pytest.raises(AssertionError, match="no rule checks"):
        check_command(["rm", "-rf", "build"])
    with pytest.raises(AssertionError, match="the parser refuses"):
        check_command(["parakeet-desktop", "transcribe", "talk.mp3", "--format", "docx"])


def test_the_json_examples_are_what_the_runpod_worker_reads():
    worker = (ROOT / "parakeet_desktop" / "serverless" / "worker.py").read_text()
    examples = [json.loads(b.text) for b in _blocks() if b.lang == "json"]
    assert examples
    for example in examples:
        assert set(example) == {"input"} and all(f'"{key}"' in worker for key in example["input"])


@pytest.fixture(scope="module")
def recordings(tmp_path_factory, speech_wavs) -> Path:
    """The files the API's examples send (memo.m4a, talk.mp3, memo.wav), made from speech."""
    folder = tmp_path_factory.mktemp("doc-files")
    samples, rate = soundfile.read(speech_wavs[0], dtype="float32")
    soundfile.write(folder / "memo.wav", samples, rate, subtype="PCM_16")
    for name, fmt, codec in (("memo.m4a", "mp4", "aac"), ("talk.mp3", "mp3", "mp3")):
        with av.open(str(folder / name), "w", format=fmt) as container:
            stream = container.add_stream(codec, rate=rate, layout="mono")
            frame = av.AudioFrame.from_ndarray(np.asarray(samples, np.float32)[None, :], format="fltp", layout="mono")
            frame.sample_rate = rate
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                container.mux(packet)
    return folder


def test_the_api_examples_run_against_a_real_service(service_process, tmp_path, recordings):
    """curl, the openai package and a WebSocket client as api.md shows them, with the service's
    token where the docs read it (``~/.config/parakeet-desktop/api-token``)."""
    home = tmp_path / "home"
    examples = [b for b in _blocks() if b.for_the_service]
    assert {b.lang for b in examples} == {"sh", "python"}
    with service_process(SPEECH_MODEL, home / ".config" / "parakeet-desktop", "--diarization-model",
                         str(DIARIZATION_MODEL), "--speaker-model", str(SPEAKER_MODEL)) as served:
        address = served.url.removeprefix("http://")
        env = {**os.environ, "HOME": str(home)}
        env.pop("PARAKEET_DESKTOP_API_TOKEN", None)
        for block in examples:
            text = block.text.replace(DOC_ADDRESS, address)
            command = ["bash", "-euo", "pipefail", "-c", text] if block.lang == "sh" else [sys.executable, "-c", text]
            done = subprocess.run(command, cwd=recordings, env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"{block.where}: {done.stderr[-3000:]}"
            said = done.stdout
            assert '"error"' not in said and "'error'" not in said, f"{block.where}: {said[-3000:]}"
            if block.lang == "sh":
                assert "-->" in said and '"status":"ready"' in said.replace(" ", ""), block.where
            else:
                assert re.search(r"[a-z]{3,} [a-z]{3,}", said), f"{block.where}: no words in {said[-2000:]}"
