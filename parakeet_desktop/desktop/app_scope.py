"""The app in a systemd scope named after its menu entry, so the desktop's portals know it.

An app outside a sandbox has no app id for xdg-desktop-portal unless it registers one (portal
1.21+) or runs in a systemd unit named ``app-<app id>-<anything>.scope``, which is how the desktop
launches apps from its menu. Older portals (1.16, with KDE Plasma 5.27) have no registry: without
the scope the app id is empty, KDE files the app's shortcuts under its session token and shows its
dialogs with no name. The menu entry and the login entry start the app with ``--app-scope``: where a
systemd user session runs, the app moves itself into such a scope at start, before its first
portal call (what ``systemd-run --user --scope`` does for a command); where none runs, it starts as
it is.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path

from .entry import APP_ID

logger = logging.getLogger(__name__)

FLAG = "--app-scope"  # on the command line of the menu and login entries
# systemd's own pattern for app units, as xdg-desktop-portal reads them.
_APP_UNIT = re.compile(r"app-(?:[A-Za-z0-9]+-)?(?P<id>[^/]+?\.[^/]+?\.[^/]+?)(?:[@-][A-Za-z0-9]*)?\.(?:scope|service)$")


def unit_name(pid: int | None = None) -> str:
    return f"app-{APP_ID}-{pid or os.getpid()}.scope"


def app_id_of(cgroup_text: str) -> str:
    """The app id the portal would see in a process's ``/proc/<pid>/cgroup`` ('' where none)."""
    for line in cgroup_text.splitlines():
        for part in line.rpartition(":")[2].split("/"):
            found = _APP_UNIT.match(part)
            if found:
                return found["id"]
    return ""


def own_app_id() -> str:
    try:
        return app_id_of(Path("/proc/self/cgroup").read_text())
    except OSError:
        return ""


def enter(bus: str = "SESSION") -> bool:
    """Moves this process into a new scope of the app's, through the systemd user manager on the
    session bus (what ``systemd-run --user --scope`` asks of it). True once it is in one (already,
    or now); False where there is no systemd user session or it refuses: the app starts as it is,
    and its portals work with an empty app id."""
    if not sys.platform.startswith("linux"):
        return False
    if own_app_id() == APP_ID:
        return True
    from jeepney import DBusAddress, MessageType, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    manager = DBusAddress("/org/freedesktop/systemd1", "org.freedesktop.systemd1",
                          "org.freedesktop.systemd1.Manager")
    properties = [("PIDs", ("au", [os.getpid()])), ("CollectMode", ("s", "inactive-or-failed")),
                  ("Description", ("s", "Parakeet Desktop"))]
    try:
        with open_dbus_connection(bus) as connection:
            reply = connection.send_and_get_reply(
                new_method_call(manager, "StartTransientUnit", "ssa(sv)a(sa(sv))",
                                (unit_name(), "fail", properties, [])), timeout=5)
    except Exception as exc:  # no session bus, no answer in time
        logger.info("The app runs without a scope of its own: %s", exc)
        return False
    if reply.header.message_type == MessageType.error:  # no systemd user session on this bus
        logger.info("The app runs without a scope of its own: %s", reply.body[0] if reply.body else "refused")
        return False
    logger.info("The app runs in %s", unit_name())
    return True
