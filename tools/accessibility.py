"""A desktop session's accessibility tree (AT-SPI over D-Bus, through jeepney): what a screen
reader's user reaches. Tests answer GNOME's dialogs through it, as that user would."""

from __future__ import annotations

from pathlib import Path


class Accessibility:
    """The accessibility tree (AT-SPI) of the session: what a screen reader's user reaches."""

    REGISTRY = ("org.a11y.atspi.Registry", "/org/a11y/atspi/accessible/root")

    def __init__(self, address: str) -> None:
        from jeepney.io.blocking import open_dbus_connection

        self.connection = open_dbus_connection(address)

    @classmethod
    def of(cls, bus: str, root: Path | None = None) -> Accessibility:
        """The accessibility tree of the session on *bus* (its socket seen under *root*, the
        tree the session runs in, where that is not this system's root)."""
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection

        with open_dbus_connection(bus) as session:
            reply = session.send_and_get_reply(new_method_call(
                DBusAddress("/org/a11y/bus", "org.a11y.Bus", "org.a11y.Bus"), "GetAddress"), timeout=30)
        address = reply.body[0].split(",")[0]
        if root is not None and not address.startswith("unix:path=/tmp/"):
            address = address.replace("unix:path=/", f"unix:path={root}/", 1)
        return cls(address)

    def _call(self, where: tuple[str, str], interface: str, method: str, signature: str | None = None,
              body: tuple = ()) -> tuple:
        from jeepney import DBusAddress, new_method_call

        return self.connection.send_and_get_reply(
            new_method_call(DBusAddress(where[1], where[0], interface), method, signature, body), timeout=10).body

    def _name(self, where: tuple[str, str]) -> str:
        return self._call(where, "org.freedesktop.DBus.Properties", "Get", "ss",
                          ("org.a11y.atspi.Accessible", "Name"))[0][1]

    def find(self, app: str, role: str, name: str) -> tuple[str, str] | None:
        """The first element of *role* ("button", "switch") named *name* in the app *app*."""
        for child in self._call(self.REGISTRY, "org.a11y.atspi.Accessible", "GetChildren")[0]:
            if self._name(child) == app:
                found = self._search(child, role, name, 0)
                if found:
                    return found
        return None

    def _search(self, where: tuple[str, str], role: str, name: str, depth: int) -> tuple[str, str] | None:
        if depth > 60:
            return None
        if (self._call(where, "org.a11y.atspi.Accessible", "GetRoleName")[0] == role
                and self._name(where) == name):
            return where
        for child in self._call(where, "org.a11y.atspi.Accessible", "GetChildren")[0]:
            found = self._search(tuple(child), role, name, depth + 1)
            if found:
                return found
        return None

    def act(self, where: tuple[str, str]) -> None:
        """The element's first action: a button's click, a switch's toggle."""
        assert self._call(where, "org.a11y.atspi.Action", "DoAction", "i", (0,))[0]

    def close(self) -> None:
        self.connection.close()
