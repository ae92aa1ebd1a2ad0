"""Open the settings dialog (each tab in turn) on the X server named by DISPLAY and save a PNG
of each: the files are named by the path prefix on the command line."""

import sys

from PySide6.QtWidgets import QApplication, QTabWidget

from parakeet_desktop.settings.config import Settings
from parakeet_desktop.ui.settings_dialog import SettingsDialog

app = QApplication(sys.argv[:1])
dialog = SettingsDialog(Settings(replacements=[["new line", "\\n"], ["full stop", "."]]),
                        ["Built-in Audio Analog Stereo", "USB Headset (Jabra Evolve 65)"])
dialog.show()
tabs = dialog.findChild(QTabWidget)
sizes = []
for index in range(tabs.count()):
    tabs.setCurrentIndex(index)
    app.processEvents()
    dialog.grab().save(f"{sys.argv[1]}-{index}.png")
    sizes.append(f"{dialog.frameGeometry().width()}x{dialog.frameGeometry().height()}")
print(" ".join(sizes))
