"""Save a PNG of the whole X screen named by DISPLAY."""

import sys

from PySide6.QtWidgets import QApplication

app = QApplication(sys.argv[:1])
sys.exit(0 if app.primaryScreen().grabWindow(0).save(sys.argv[1]) else 1)
