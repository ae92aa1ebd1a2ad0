"""Shared fixtures: a tiny random-weight Parakeet-class model, the committed speech model, real
synthesized speech, the app's folders and the cluster; the helpers they use are in tests/support."""

from __future__ import annotations

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
from support.models import SPEECH_MODEL  # noqa: E402
from support.speech import SENTENCES, synthesize  # noqa: E402
from tools.nemo_models import TINY, write_nemo  # noqa: E402
from tools.waiting import wait_for  # noqa: E402


@pytest.fixture(scope="session")
def tiny_nemo(tmp_path_factory) -> Path:
    """A tiny random-weight EncDecRNNTBPEModel with TDT decoding, saved as a .nemo file."""
    return write_nemo(TINY, tmp_path_factory.mktemp("model") / "tiny-tdt.nemo")


@pytest.fixture(scope="session")
def model(tiny_nemo):
    """The tiny model loaded through the app's own loader, as a user's .nemo file is."""
    from parakeet_desktop.engine.loader import load_model

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
    from parakeet_desktop.engine.loader import load_model

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
    number = f":{150 + os.getpid() % 50}"
    server = subprocess.Popen(["Xvfb", number, "-screen", "0", "640x480x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(f"/tmp/.X11-unix/X{number[1:]}") or server.poll() is not None, 30,
                 "Xvfb to start")
        assert server.poll() is None, "Xvfb did not start"
        yield number
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="session")
def cluster_service(tmp_path_factory):
    """``parakeet-desktop cluster`` with two CPU replicas of the committed speech model behind Ray
    Serve's proxy, on a Ray head of two CPUs: started once per session of tests."""
    from support.service import serve

    with serve(SPEECH_MODEL, tmp_path_factory.mktemp("cluster-config"), "--replicas", "2", command="cluster",
               timeout=600) as running:
        yield running


_tier_of: dict[str, str] = {}
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
    path = Path(item.path).relative_to(Path(__file__).parent).as_posix()
    for prefix, group in GROUP_OF_PATH.items():
        if path.startswith(prefix):
            return group
    return None


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selects by the markers
def pytest_collection_modifyitems(session, config, items):
    """Each test gets its group's marker; the tests on the cluster run last, together: its Ray
    head and replicas start once, and idle through no other test."""
    for item in items:
        group = group_of(item)
        _tier_of[item.nodeid] = group or "fast"
        if group is not None:
            item.add_marker(getattr(pytest.mark, group))
    on_cluster = [item for item in items if _tier_of[item.nodeid] == "cluster"]
    if on_cluster:
        items[:] = [item for item in items if item not in on_cluster] + on_cluster


def pytest_runtest_logreport(report):
    """The time each test took, setup and teardown included, summed by its tier."""
    tier = _tier_of.get(report.nodeid, "fast")
    _seconds_by_tier[tier] = _seconds_by_tier.get(tier, 0.0) + report.duration
    _tests_by_tier.setdefault(tier, set()).add(report.nodeid)


def pytest_terminal_summary(terminalreporter):
    """One line of where the time went, by tier (CI prints it)."""
    if _seconds_by_tier:
        parts = [f"{tier} {_seconds_by_tier[tier] / 60:.1f} min ({len(_tests_by_tier[tier])} tests)"
                 for tier in ["fast", *GROUPS] if tier in _seconds_by_tier]
        terminalreporter.write_line("time by tier: " + ", ".join(parts))
