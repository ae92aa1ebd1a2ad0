"""Real desktops, each brought up once per test session: KDE Plasma 5.27 on this host
(tools/kde_session.py), GNOME 48 from Debian 13 (tools/gnome_session.py)."""

from __future__ import annotations

import sys

import pytest

from tools.kde_session import KdeSession, missing


@pytest.fixture(scope="session")
def kde(tmp_path_factory):
    lacking = missing() if sys.platform == "linux" else ["Linux"]
    if lacking:
        pytest.skip(f"KDE Plasma 5.27 needs {', '.join(lacking)} (tools/run-tests installs them)")
    session = KdeSession(tmp_path_factory.mktemp("kde"))
    try:
        session.start()
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="session")
def gnome(tmp_path_factory):
    from tools.gnome_session import GnomeSession, missing as gnome_missing

    lacking = gnome_missing() if sys.platform == "linux" else ["Linux"]
    if lacking:
        pytest.skip(f"GNOME 48 needs {', '.join(lacking)}")
    session = GnomeSession(tmp_path_factory.mktemp("gnome"))
    try:
        session.start()
        yield session
    finally:
        session.stop()
