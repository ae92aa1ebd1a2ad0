"""Shared fixtures: a tiny random-weight Parakeet-class model, the committed speech model, real
synthesized speech, the app's folders and the cluster; the helpers they use are in tests/support."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

# No test may reach a model hub: none is reachable on the build machines, and a test that
# downloads would pass or fail by the weather. Nothing listens on this port. Set before the
# hub client is imported, which reads it once.
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"
# Ray (the cluster's tests): no usage reports; a test that connects to the cluster a ``cluster``
# command started uses the token Ray made for it (~/.ray/auth_token). Read when Ray is imported.
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["RAY_AUTH_MODE"] = "token"
# Qt widgets in this process draw offscreen; the desktop tests start their own X server and
# give their child processes the xcb platform.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from support.groups import GROUP_OF_FIXTURE, GROUP_OF_PATH, GROUPS  # noqa: E402
from support.models import DIARIZATION_MODEL, SPEECH_MODEL  # noqa: E402
from support.speech import SENTENCES, synthesize  # noqa: E402
from tools.desktop_session import start_xvfb  # noqa: E402
from tools.nemo_models import TINY, write_nemo  # noqa: E402


@pytest.fixture(scope="session")
def tiny_nemo(tmp_path_factory) -> Path:
    """A tiny random-weight EncDecRNNTBPEModel with TDT decoding, saved as a .nemo file."""
    return write_nemo(TINY, tmp_path_factory.mktemp("model") / "tiny-tdt.nemo")


@pytest.fixture(scope="session")
def model(tiny_nemo):
    """The tiny model loaded through the app's own loader, as a user's .nemo file is."""
    from parakeet_desktop.engine.model.loader import load_model

    return load_model(str(tiny_nemo), "cpu")


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("speech")
    for n, text in enumerate(SENTENCES):
        synthesize(text, folder / f"sentence{n}.wav")
    return folder


@pytest.fixture(scope="session")
def speech_wavs(speech_dir) -> list[Path]:
    return sorted(speech_dir.glob("sentence*.wav"))


@pytest.fixture(scope="session")
def speech_model():
    """The committed model that really recognises speech, loaded as a user's .nemo file is."""
    from parakeet_desktop.engine.model.loader import load_model

    return load_model(str(SPEECH_MODEL), "cpu")


@pytest.fixture
def app_dirs(tmp_path, monkeypatch):
    """The app's config and data folders, and its control socket, in a temporary folder."""
    monkeypatch.setenv("PARAKEET_DESKTOP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("PARAKEET_DESKTOP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="session")
def service_process():
    """``support.service.serve``: ``parakeet-desktop serve`` in a process of its own, for a test
    or a module's fixture (a test that asks for it is in the ``service`` group)."""
    from support.service import serve

    return serve


@pytest.fixture(scope="session")
def train_fixture_model():
    """``tools/train_fixture_model.py ARGS…`` in a process of its own, as its author runs it."""
    def train(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "tools/train_fixture_model.py", *args], capture_output=True,
                              text=True, timeout=600, cwd=Path(__file__).resolve().parents[1])
    return train


@pytest.fixture(scope="session")
def x_display():
    """A real X server (Xvfb) for the session: its display name, such as ":151"."""
    server, display = start_xvfb("-screen", "0", "640x480x24", "-nolisten", "tcp", log=subprocess.DEVNULL)
    try:
        yield display
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="session")
def cluster_service(tmp_path_factory):
    """``parakeet-desktop cluster`` with two CPU replicas of the committed speech model behind Ray
    Serve's proxy, on a Ray head of two CPUs: started once per session of tests (and stopped as
    soon as the last test on it ends, see ``pytest_runtest_teardown``)."""
    from support.service import serve

    with _cluster:
        yield _cluster.enter_context(serve(SPEECH_MODEL, tmp_path_factory.mktemp("cluster-config"), "--replicas",
                                           "2", "--diarization-model", str(DIARIZATION_MODEL), command="cluster",
                                           timeout=600))


_cluster = contextlib.ExitStack()


_seconds_by_tier: dict[str, float] = {}
_tests_by_tier: dict[str, set[str]] = {}


def pytest_configure(config):
    for name, needs in GROUPS.items():
        config.addinivalue_line("markers", f"{name}: needs {needs}")


def group_of(item) -> str | None:
    """The group *item* belongs to, or None for the fast tier."""
    if "[cluster]" in item.nodeid:  # a test of serve and the cluster alike, on the cluster
        return "cluster"
    for fixture in getattr(item, "fixturenames", ()):
        if fixture in GROUP_OF_FIXTURE:
            return GROUP_OF_FIXTURE[fixture]
    path = _path(item)
    for prefix, group in GROUP_OF_PATH.items():
        if path.startswith(prefix):
            return group
    return None


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selects by the markers, and pytest-xdist by the lanes
def pytest_collection_modifyitems(session, config, items):
    """Each test gets its group's marker, and its lane: the tests of the groups run on two workers
    (tools/run-tests), each lane on one worker, one test after another (pytest-xdist's
    ``xdist_group``). The tests that share a Ray cluster are one lane, those that share a screen
    and a sound server another; the others go by file (a file's fixtures are made once), each
    benchmark alone. The tests on the cluster run together, last in one process, first in a lane:
    its Ray head and replicas start once and idle through no other test."""
    on_cluster = []
    for item in items:
        group = group_of(item)
        item.user_properties.append(("tier", group or "fast"))  # reports carry it (from pytest-xdist's workers too)
        if group is None:
            continue
        item.add_marker(getattr(pytest.mark, group))
        if not any(item.iter_markers("xdist_group")):
            item.add_marker(pytest.mark.xdist_group(lane_of(item, group)))
        if group == "cluster":
            on_cluster.append(item)
    cluster_ids = {id(item) for item in on_cluster}
    rest = [item for item in items if id(item) not in cluster_ids]
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # The longest lanes first, so that neither worker is left alone with one at the end.
        first = {lane: n for n, lane in enumerate(LANES_FIRST)}
        rest.sort(key=lambda item: first.get(_lane(item), len(first)))
        items[:] = [item for item in rest if _lane(item) == "ray"] + on_cluster + \
            [item for item in rest if _lane(item) != "ray"]
    else:
        items[:] = rest + on_cluster


# The lanes that take longest, longest first (a whole run's --durations, on two cores): started
# first, so that the end of the run is made of short ones that fill both workers.
LANES_FIRST = ["ray", "screen", "tests/test_benchmarks.py::test_the_gpu_command_runs_every_gpu_bench_in_smoke_mode",
               "engine/recognize/test_streaming_fixture.py", "test_deploy.py", "service/test_service_load.py",
               "tests/test_benchmarks.py::test_file_transcription_bench_compares_both_twins_with_nemo"]


def lane_of(item, group: str) -> str:
    if group == "cluster":
        return "ray"
    if group in ("desktop", "desktops", "e2e"):
        return "screen"  # one PulseAudio, X servers, compositors and their portals
    path = _path(item)
    return item.nodeid if path == "test_benchmarks.py" else path


def _path(item) -> str:
    """Where *item* is under tests/."""
    return Path(item.path).relative_to(Path(__file__).parent).as_posix()


def _lane(item) -> str | None:
    return next((mark.args[0] for mark in item.iter_markers("xdist_group")), None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """On a worker, the cluster stops once the last test of its lane and that test's fixtures
    have ended (a lane runs whole on one worker, so no later test there needs it)."""
    try:
        return (yield)
    finally:
        if os.environ.get("PYTEST_XDIST_WORKER") and _lane(item) == "ray" and (nextitem is None or
                                                                              _lane(nextitem) != "ray"):
            _cluster.close()


def pytest_runtest_logreport(report):
    """The time each test took, setup and teardown included, summed by its tier."""
    tier = dict(report.user_properties).get("tier", "fast")
    _seconds_by_tier[tier] = _seconds_by_tier.get(tier, 0.0) + report.duration
    _tests_by_tier.setdefault(tier, set()).add(report.nodeid)


def pytest_terminal_summary(terminalreporter):
    """One line of where the time went, by tier (CI prints it)."""
    if _seconds_by_tier:
        parts = [f"{tier} {_seconds_by_tier[tier] / 60:.1f} min ({len(_tests_by_tier[tier])} tests)"
                 for tier in ["fast", *GROUPS] if tier in _seconds_by_tier]
        terminalreporter.write_line("time by tier: " + ", ".join(parts))

