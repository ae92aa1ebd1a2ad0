"""A Wayland session for tests: headless sway (wlroots, pixman renderer, no input devices) with
XWayland, and the PulseAudio virtual microphone of desktop_session.

sway refuses to run as root: as root it runs as an ordinary user made for it (``parakeet-sway``),
in a runtime folder of its own, and lets root's clients on its XWayland display (xhost); root
reaches its Wayland socket anyway. The display name XWayland got is written by sway's own child.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tools.desktop_session import Desktop
from tools.waiting import wait_for

TOOLS = ("sway", "swaymsg", "wtype", "wl-copy", "wl-paste", "Xwayland", "grim", "xhost", "pulseaudio")
USER = "parakeet-sway"


class WaylandSession(Desktop):
    """sway + XWayland + PulseAudio; ``env`` is what a client of the session gets."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.env.pop("DISPLAY", None)
        self.env.pop("QT_QPA_PLATFORM", None)
        self.env["XDG_SESSION_TYPE"] = "wayland"
        self.runtime = Path(tempfile.mkdtemp(prefix="sway-"))  # outside tmp_path: the sway user enters it
        self.user = USER if os.getuid() == 0 else None

    def start(self) -> None:
        self.start_audio()
        if self.user is not None:
            if subprocess.run(["id", "-u", self.user], capture_output=True).returncode != 0:
                subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                                self.user], check=True)
            shutil.chown(self.runtime, self.user)
        self.runtime.chmod(0o711)
        display_file = self.runtime / "display"
        config = self.runtime / "sway.config"
        started = self.runtime / "started.sh"  # a script: sway's config would expand $DISPLAY itself
        started.write_text(("xhost +si:localuser:root\n" if self.user else "") + f'echo "$DISPLAY" > {display_file}\n')
        config.write_text(f"output HEADLESS-1 resolution 1280x720\nxwayland enable\nexec sh {started}\n", "utf-8")
        for path in (config, started):
            path.chmod(0o644)
        sway_env = {"HOME": str(self.runtime), "XDG_RUNTIME_DIR": str(self.runtime), "PATH": os.environ["PATH"],
                    "WLR_BACKENDS": "headless", "WLR_LIBINPUT_NO_DEVICES": "1", "WLR_RENDERER": "pixman"}
        command = ["sway", "-c", str(config)]
        if self.user is not None:
            command = (["runuser", "-u", self.user, "--", "env", "-i"] + [f"{k}={v}" for k, v in sway_env.items()]
                       + command)
        self.spawn(*command, log="sway", env=sway_env)
        socket = wait_for(lambda: next(iter(sorted(self.runtime.glob("wayland-[0-9]"))), None), 30, "sway's socket")
        self.env["WAYLAND_DISPLAY"] = str(socket)  # a path: the client's runtime folder is its own
        self.env["SWAYSOCK"] = str(wait_for(lambda: next(iter(self.runtime.glob("sway-ipc.*.sock")), None), 30,
                                        "sway's IPC socket"))
        display = wait_for(lambda: display_file.exists() and display_file.read_text().strip(), 60, "XWayland")
        self.env["DISPLAY"] = display
        if self.user is not None:
            wait_for(lambda: self.run("xhost").returncode == 0, 30, "root being let on XWayland")

    def focused(self) -> dict:
        """The window sway gives the keyboard to: {"name", "app_id", "shell"}."""
        tree = json.loads(self.run("swaymsg", "-t", "get_tree").stdout)
        stack = [tree]
        while stack:
            node = stack.pop()
            if node.get("focused"):
                return {"name": node.get("name"), "app_id": node.get("app_id"), "shell": node.get("shell")}
            stack += node.get("nodes", []) + node.get("floating_nodes", [])
        return {}

    def focus(self, title: str) -> None:
        self.run("swaymsg", f'[title="{title}"] focus')
        wait_for(lambda: self.focused().get("name") == title, 10, f"{title} to have the focus")

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        done = self.run("grim", str(path))
        assert done.returncode == 0, done.stderr
        return path

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.runtime, ignore_errors=True)
