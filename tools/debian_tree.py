"""Debian 13 (trixie) trees for the desktops Debian 12 is too old for (GNOME 48, Plasma 6): made
once with debootstrap and apt, kept under ~/.cache named after what they hold, entered with
chroot (tools/gnome_session.py, tools/kde_session.py)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "parakeet-desktop-tests" / "desktops"


def command_in(command: list[str], env: dict[str, str], *, tree: Path | None = None,
               user: str | None = None) -> list[str]:
    """*command* with exactly *env*, run as *user* (None: this one) inside *tree* (None: here)."""
    return ((["chroot", str(tree)] if tree else []) + (["runuser", "-u", user, "--"] if user else [])
            + ["env", "-i"] + [f"{k}={v}" for k, v in env.items()] + command)


def missing() -> list[str]:
    """What the host lacks to make and enter the tree (root, debootstrap)."""
    lacking = [] if os.geteuid() == 0 else ["root"]
    return lacking + [tool for tool in ("debootstrap", "chroot", "mount") if shutil.which(tool) is None]


def debian_tree(name: str, packages: tuple[str, ...], user: str) -> Path:
    """A Debian 13 tree with *packages* and an ordinary *user*, made now unless one made from
    the same list is there (under ~/.cache, named after its list)."""
    key = hashlib.sha256(" ".join((SUITE, MIRROR, user) + packages).encode()).hexdigest()[:12]
    root = CACHE / f"{SUITE}-{name}-{key}"
    if (root / ".complete").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["debootstrap", "--variant=minbase", SUITE, str(root), MIRROR], check=True,
                   stdout=subprocess.DEVNULL)
    policy = root / "usr" / "sbin" / "policy-rc.d"  # nothing is started while installing
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    with mounted(root, ("proc", "sys", "dev")):
        subprocess.run(["chroot", str(root), "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y",
                        "-qq", "--no-install-recommends", *packages], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["chroot", str(root), "useradd", "--create-home", user], check=True)
    # GNOME Shell takes /run/systemd/seats for a running logind, which is not there.
    shutil.rmtree(root / "run" / "systemd", ignore_errors=True)
    (root / ".complete").write_text(" ".join(packages))
    return root


class mounted:
    """The host's /proc, /sys, /dev (and other folders) inside *root*, for as long as needed."""

    def __init__(self, root: Path, names: tuple[str, ...], read_only: tuple[Path, ...] = ()) -> None:
        self.root, self.names, self.read_only = root, names, read_only
        self.points: list[Path] = []

    def __enter__(self) -> mounted:
        for name in self.names:
            point = self.root / name
            point.mkdir(parents=True, exist_ok=True)
            kind = ["-t", "proc", "proc"] if name == "proc" else ["--rbind", f"/{name}"]
            subprocess.run(["mount", *kind, str(point)], check=True)
            self.points.append(point)
        for folder in self.read_only:
            point = self.root / folder.relative_to("/")
            point.mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", "--bind", str(folder), str(point)], check=True)
            subprocess.run(["mount", "-o", "remount,bind,ro", str(point)], check=True)
            self.points.append(point)
        return self

    def __exit__(self, *_exc) -> None:
        for point in reversed(self.points):
            subprocess.run(["umount", "--recursive", "--lazy", str(point)], check=False)
        self.points.clear()
