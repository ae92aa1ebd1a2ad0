"""Real desktops, each brought up once per test session: KDE Plasma 5.27 on this host, Plasma 6
(tools/kde_session.py) and GNOME 48 (tools/gnome_session.py) from Debian 13 trees."""

from __future__ import annotations

import sys

import pytest

from tools.kde_session import KdeSession, missing, plasma6_tree


@pytest.fixture(scope="session", params=["plasma-5.27", "plasma-6"])
def kde(request, tmp_path_factory):
    """KDE Plasma 5.27 on this host, then Plasma 6 from a Debian 13 tree."""
    from tools.debian_tree import missing as tree_missing

    lacking = missing() if sys.platform == "linux" else ["Linux"]
    if request.param == "plasma-6":
        lacking = tree_missing() if sys.platform == "linux" else lacking
    if lacking:
        pytest.skip(f"KDE {request.param} needs {', '.join(lacking)} (tools/run-tests installs them)")
    session = KdeSession(tmp_path_factory.mktemp("kde"), plasma6_tree() if request.param == "plasma-6" else None)
    try:
        session.start()
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="session")
def gnome(tmp_path_factory):
    from tools.debian_tree import missing as gnome_missing
    from tools.gnome_session import GnomeSession

    lacking = gnome_missing() if sys.platform == "linux" else ["Linux"]
    if lacking:
        pytest.skip(f"GNOME 48 needs {', '.join(lacking)}")
    session = GnomeSession(tmp_path_factory.mktemp("gnome"))
    try:
        session.start()
        yield session
    finally:
        session.stop()
