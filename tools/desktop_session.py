"""A desktop session for tests and benchmarks: Xvfb, a system tray (trayer) and PulseAudio
with a virtual microphone (a null sink whose monitor is remapped as a source), each started as
a child process and stopped at the end."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
from pathlib import Path

from tools.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ("Xvfb", "xdotool", "pulseaudio", "pactl", "paplay", "trayer")


def start_xvfb(*options: str, log) -> tuple[subprocess.Popen, str]:
    """Xvfb with *options* on a display number it finds free itself (``-displayfd``: a number
    derived from a process id can meet another X server, such as a leftover one or a
    container's XWayland reached through the abstract socket, and xdotool would then talk to
    that one); the server and its display name, such as ":3"."""
    read, write = os.pipe()
    try:
        server = subprocess.Popen(["Xvfb", "-displayfd", str(write), *options], pass_fds=(write,), stdout=log,
                                  stderr=subprocess.STDOUT)
    finally:
        os.close(write)
    with os.fdopen(read) as answer:  # Xvfb writes its number once it listens; nothing if it fails
        number = answer.readline().strip() if select.select([answer], [], [], 30)[0] else ""
    if not number:
        server.kill()
        server.wait()
        raise RuntimeError(f"Xvfb did not start (exit status {server.returncode})")
    return server, f":{number}"


class Desktop:
    """Xvfb, a tray, PulseAudio with a virtual microphone; processes stopped at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.processes: list[subprocess.Popen] = []
        runtime = folder / "runtime"
        runtime.mkdir(mode=0o700)
        self.env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime),
                    "PULSE_RUNTIME_PATH": str(runtime / "pulse"), "QT_QPA_PLATFORM": "xcb",
                    "PARAKEET_DESKTOP_CONFIG_DIR": str(folder / "config"),
                    "PARAKEET_DESKTOP_DATA_DIR": str(folder / "data")}
        self.env.pop("WAYLAND_DISPLAY", None)
        self.env.pop("PULSE_SERVER", None)

    def spawn(self, *args: str, log: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        """Starts *args* (with *env*, else the session's), its output in *log*.log; stopped at the end."""
        stream = open(self.folder / f"{log}.log", "w")  # noqa: SIM115 - the process's output, closed with it
        process = subprocess.Popen(list(args), env=self.env if env is None else env, stdout=stream,
                                   stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def run(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=60, **kwargs)

    def on_bus(self, name: str) -> bool:
        """Whether *name* is owned on the session's D-Bus (a desktop's service is up)."""
        return self.run("busctl", "--user", "status", name).returncode == 0

    def start(self) -> None:
        with open(self.folder / "xvfb.log", "w") as log:
            server, self.env["DISPLAY"] = start_xvfb("-screen", "0", "1366x768x24", "-nolisten", "tcp", log=log)
        self.processes.append(server)
        wait_for(lambda: self.run("xdotool", "getmouselocation").returncode == 0, 20, "the X server")
        self.spawn("trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                   "--height", "28", "--SetDockType", "true", log="tray")
        self.start_audio()

    def start_audio(self) -> None:
        self.spawn("pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
                   "-L", "module-native-protocol-unix", "-L", "module-null-sink sink_name=speaker",
                   "-L", "module-remap-source master=speaker.monitor source_name=virtual_mic",
                   log="pulseaudio")
        wait_for(lambda: self.run("pactl", "info").returncode == 0, 20, "PulseAudio")
        self.run("pactl", "set-default-source", "virtual_mic")
        self.run("pactl", "set-default-sink", "speaker")

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        done = self.run(sys.executable, str(ROOT / "tools" / "screenshot.py"), str(path))
        assert done.returncode == 0, done.stderr
        return path

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()


SESSION_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{services}</servicedir>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def session_bus_config(folder: Path, system: Path) -> Path:
    """The config of a desktop's session bus listening at *folder*/bus, that lets every user on
    (the desktop's own user and the tests' root) and starts the services of the system under
    *system* (``/`` or a tree) but the portal frontend's: the bus would start that one as the
    session's user at the first call, and the tests start it as root (see kde_session.py)."""
    services = folder / "services"
    services.mkdir(mode=0o755, exist_ok=True)
    for service in (system / "usr" / "share" / "dbus-1" / "services").glob("*.service"):
        if service.name != "org.freedesktop.portal.Desktop.service":
            shutil.copyfile(service, services / service.name)
    config = folder / "bus.conf"
    config.write_text(SESSION_BUS_CONFIG.format(path=folder / "bus", services=services), "utf-8")
    config.chmod(0o644)
    return config
