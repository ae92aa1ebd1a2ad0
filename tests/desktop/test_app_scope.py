"""The app in a systemd app scope named after its menu entry (desktop/app_scope.py): the menu and
login entries ask for it, the app id is read from the cgroup the way the portal reads it, the
app started by its menu entry's command moves into its scope through a real systemd user
manager, and without a systemd user session the app starts as it is."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from parakeet_desktop.desktop import app_scope, autostart, entry
from parakeet_desktop.desktop.entry import APP_ID
from support.dictation import app_status
from support.models import SPEECH_MODEL
from support.portal import private_session_bus
from tools.desktop_session import ROOT
from tools.kde_session import in_app_scope
from tools.waiting import wait_for

# The user manager checks that the system booted with systemd (/run/systemd/system); here it did
# not, so the manager runs in a mount namespace of its own where that folder is.
USER_MANAGER = "mount -t tmpfs none /run/systemd && mkdir /run/systemd/system && exec /lib/systemd/systemd --user"


@pytest.fixture
def systemd_user():
    """A real systemd user manager with its session bus (dbus.socket); yields the environment of
    a program in that session."""
    if os.geteuid() != 0 or not Path("/lib/systemd/systemd").exists() or shutil.which("unshare") is None:
        pytest.skip("needs root, systemd and unshare (Debian: systemd, util-linux)")
    Path("/run/systemd").mkdir(exist_ok=True)
    runtime = Path(tempfile.mkdtemp(prefix="user-"))  # short: the bus socket's path
    runtime.chmod(0o700)
    env = {"PATH": os.environ["PATH"], "HOME": str(runtime), "XDG_RUNTIME_DIR": str(runtime)}
    manager = subprocess.Popen(["unshare", "-m", "sh", "-c", USER_MANAGER], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: (runtime / "bus").exists() or manager.poll() is not None, 60, "systemd --user")
        assert manager.poll() is None, "systemd --user stopped"
        yield {**env, "DBUS_SESSION_BUS_ADDRESS": f"unix:path={runtime / 'bus'}"}
    finally:
        manager.terminate()
        manager.wait(30)
        shutil.rmtree(runtime, ignore_errors=True)


def test_the_app_id_is_read_from_a_cgroup_as_the_portal_reads_it():
    hybrid = ("12:pids:/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope\n"
              f"1:name=systemd:/user.slice/user-1000.slice/user@1000.service/app.slice/app-{APP_ID}-4242.scope\n"
              "0::/user.slice/user-1000.slice/user@1000.service/app.slice/other.scope\n")
    assert app_scope.app_id_of(hybrid) == APP_ID
    unified = f"0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-{APP_ID}-77.scope\n"
    assert app_scope.app_id_of(unified) == APP_ID  # with the launcher's name in front, as GNOME starts apps
    assert app_scope.app_id_of("0::/user.slice/user-1000.slice/session-2.scope\n") == ""
    assert app_scope.app_id_of("0::/\n") == ""
    assert app_scope.unit_name(99) == f"app-{APP_ID}-99.scope"
    assert app_scope.app_id_of(f"0::/a/{app_scope.unit_name(99)}") == APP_ID


def test_the_menu_and_login_entries_start_the_app_in_its_scope(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert autostart.command()[-1] == app_scope.FLAG
    entry.install()
    autostart.set_enabled(True)
    for path in (entry.entry_path(), tmp_path / "config" / "autostart" / "parakeet-desktop.desktop"):
        exec_line = next(line for line in path.read_text().splitlines() if line.startswith("Exec="))
        assert exec_line.endswith(" -m parakeet_desktop --app-scope"), exec_line
    # The flag is the app's own and stays out of its help.
    shown = subprocess.run([sys.executable, "-m", "parakeet_desktop", "--help"], capture_output=True, text=True,
                           cwd=ROOT, timeout=60)
    assert shown.returncode == 0 and "--app-scope" not in shown.stdout


def test_without_a_systemd_user_session_the_app_starts_as_it_is(caplog):
    caplog.set_level("INFO", logger="parakeet_desktop.desktop.app_scope")
    with private_session_bus() as bus:  # a session bus with nobody on it: no systemd --user
        assert app_scope.enter(bus) is False
    assert "runs without a scope of its own" in caplog.text
    assert app_scope.enter("unix:path=/nonexistent/bus") is False  # no session bus at all


def test_in_its_scope_already_it_stays(tmp_path):
    code = "from parakeet_desktop.desktop import app_scope; print(app_scope.own_app_id(), app_scope.enter('x'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          preexec_fn=in_app_scope(APP_ID, 7))
    assert done.stdout.split() == [APP_ID, "True"], done.stderr


def _scopes(env: dict[str, str]) -> list[str]:
    done = subprocess.run(["systemctl", "--user", "list-units", "--type=scope", "--no-legend", "--plain"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def test_started_by_its_menu_entry_the_app_runs_in_its_scope_of_a_real_systemd(systemd_user, tmp_path):
    env = {**systemd_user, "XDG_DATA_HOME": str(tmp_path / "share"), "QT_QPA_PLATFORM": "offscreen",
           "PARAKEET_DESKTOP_CONFIG_DIR": str(tmp_path / "config"), "PARAKEET_DESKTOP_DATA_DIR": str(tmp_path / "data")}
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "settings.json").write_text(json.dumps({
        "schema": 1, "model": str(SPEECH_MODEL), "device": "cpu", "sounds": False}), "utf-8")
    done = subprocess.run([sys.executable, "-m", "parakeet_desktop", "desktop-entry"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    installed = tmp_path / "share" / "applications" / f"{APP_ID}.desktop"
    command = shlex.split(next(line[5:] for line in installed.read_text("utf-8").splitlines()
                               if line.startswith("Exec=")))
    with open(tmp_path / "app.log", "w") as log:
        app = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        status = wait_for(lambda: app_status(env), 120, "the app to answer")
        assert status["pid"] == app.pid
        assert app_scope.app_id_of(Path(f"/proc/{app.pid}/cgroup").read_text()) == APP_ID  # what the portal reads
        assert app_scope.unit_name(app.pid) in _scopes(systemd_user)
        subprocess.run([sys.executable, "-m", "parakeet_desktop", "quit"], env=env, cwd=ROOT, timeout=60)
        assert app.wait(60) == 0
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(30)
    wait_for(lambda: app_scope.unit_name(app.pid) not in _scopes(systemd_user), 30, "the scope to go with the app")
