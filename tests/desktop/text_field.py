"""A plain window with one text field, the focused app that dictation types into in the
end-to-end test. Every change of its text is written to the file named on the command line."""

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication, QLineEdit

out = Path(sys.argv[1])
app = QApplication(sys.argv[:1])
field = QLineEdit()
field.setWindowTitle("Dictation target")
field.resize(900, 60)
field.move(40, 40)
field.textChanged.connect(lambda text: out.write_text(text, "utf-8"))
field.show()
field.activateWindow()
field.setFocus()
sys.exit(app.exec())
