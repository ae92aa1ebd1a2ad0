#!/usr/bin/env bash
# Installs Parakeet Desktop from this checkout into .venv and starts it.
# PyTorch from the package index is the CUDA build on Linux; it also runs without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "Parakeet Desktop needs Python 3.11 or newer (found $(python3 --version 2>&1))." >&2
  exit 1
fi
if ! ldconfig -p 2>/dev/null | grep -q libportaudio; then
  echo "note: PortAudio is missing, so dictation cannot use a microphone." >&2
  echo "      Install it with: sudo apt-get install libportaudio2" >&2
fi
if ! ldconfig -p 2>/dev/null | grep -q libxcb-cursor; then
  echo "note: Qt needs libxcb-cursor0 to open windows on X11." >&2
  echo "      Install it with: sudo apt-get install libxcb-cursor0" >&2
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e .
# The app's menu entry and icon: the desktop's menu shows it, and Wayland portals need it.
.venv/bin/parakeet-desktop desktop-entry || true
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "Installed. There is no graphical session here, so the app was not started: run"
  echo ".venv/bin/parakeet-desktop from your desktop, or use .venv/bin/parakeet-desktop listen|transcribe."
  exit 0
fi
exec .venv/bin/parakeet-desktop "$@"
