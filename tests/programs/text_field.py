"""A plain window with one text field, the focused app that dictation types into in the
end-to-end test. Every change of its text is written to the file named on the command line;
``--multiline`` makes it a text box that takes line breaks; ``--focus-log FILE`` appends a line
to FILE each time the window gains ("active") or loses ("inactive") the keyboard focus, which a
test reads on a compositor that does not say."""

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QPlainTextEdit

out = Path(sys.argv[1])
app = QApplication(sys.argv[:1])
if "--multiline" in sys.argv:
    field = QPlainTextEdit()
    field.textChanged.connect(lambda: out.write_text(field.toPlainText(), "utf-8"))
else:
    field = QLineEdit()
    field.textChanged.connect(lambda text: out.write_text(text, "utf-8"))
if "--focus-log" in sys.argv:
    focus_log = Path(sys.argv[sys.argv.index("--focus-log") + 1])

    def focus_changed(state) -> None:
        with focus_log.open("a", encoding="utf-8") as log:
            log.write(("active" if state == Qt.ApplicationState.ApplicationActive else "inactive") + "\n")
    app.applicationStateChanged.connect(focus_changed)
field.setWindowTitle("Dictation target")
field.resize(900, 160 if "--multiline" in sys.argv else 60)
field.move(40, 40)
field.show()
field.activateWindow()
field.setFocus()
sys.exit(app.exec())
