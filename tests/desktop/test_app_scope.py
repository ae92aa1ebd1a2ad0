"""The app in a systemd app scope named after its menu entry (desktop/app_scope.py): the menu and
login entries ask for it, the app id is read from the cgroup the way the portal reads it, and
without a systemd user session the app starts as it is."""

from __future__ import annotations

import subprocess
import sys

from parakeet_desktop.desktop import app_scope, autostart, entry
from parakeet_desktop.desktop.entry import APP_ID
from support.portal import private_session_bus
from tools.desktop_session import ROOT
from tools.kde_session import in_app_scope


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
