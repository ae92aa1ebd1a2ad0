"""The live caption overlay: frameless, always on top, translucent, never takes focus, lets
clicks through. Partial text streams in; the final text stays a moment, then fades.

On X11 (XWayland included) it is an override-redirect utility window, which no window manager or
compositor focuses. A native Wayland window cannot be kept from the focus (sway gives it to every
new window, and the dictated text would then land in the overlay) nor placed, so on Qt's wayland
platform the overlay is not shown: the app runs on XWayland where it can (ui/launch.py)."""

from __future__ import annotations

from PySide6.QtCore import QEasingCurve, QPropertyAnimation, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QFontMetrics, QGuiApplication, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QWidget

FINAL_SHOWN_MS = 2500
FADE_MS = 600
MAX_LINES = 3


class CaptionOverlay(QWidget):
    def __init__(self, position: str = "bottom", opacity: float = 0.85, width: float = 0.5) -> None:
        super().__init__(None, Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint
                         | Qt.WindowType.Tool | Qt.WindowType.WindowDoesNotAcceptFocus
                         | Qt.WindowType.WindowTransparentForInput | Qt.WindowType.X11BypassWindowManagerHint)
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setWindowTitle("Parakeet Desktop captions")
        self.position, self.opacity, self.width_share = position, opacity, width
        self.text = ""
        self.final = False
        self.shown_here = QGuiApplication.platformName() != "wayland"
        self._font = QFont()
        self._font.setPointSize(16)
        self._hide_timer = QTimer(self, singleShot=True, interval=FINAL_SHOWN_MS)
        self._hide_timer.timeout.connect(self._fade)
        self._fade_animation = QPropertyAnimation(self, b"windowOpacity", self)
        self._fade_animation.setDuration(FADE_MS)
        self._fade_animation.setEasingCurve(QEasingCurve.Type.InQuad)
        self._fade_animation.finished.connect(self._faded)

    def configure(self, position: str, opacity: float, width: float) -> None:
        self.position, self.opacity, self.width_share = position, opacity, width
        if self.isVisible():
            self._place()

    def show_listening(self) -> None:
        self._show("Listening…", final=False)

    def show_partial(self, text: str) -> None:
        self._show(text or "Listening…", final=False)

    def show_finishing(self) -> None:
        """The key is up and the final text is being made: not the last caption, which may be
        wrong or cut short."""
        self._show("Finishing…", final=False)

    def show_final(self, text: str) -> None:
        self._show(text or "No speech heard.", final=True)
        self._hide_timer.start()

    def show_message(self, text: str) -> None:
        self.show_final(text)

    def _show(self, text: str, final: bool) -> None:
        self._hide_timer.stop()
        self._fade_animation.stop()
        self.text, self.final = text, final
        if not self.shown_here:
            return
        self.setWindowOpacity(self.opacity)
        self._place()
        if not self.isVisible():
            self.show()
        self.update()

    def _fade(self) -> None:
        self._fade_animation.setStartValue(self.windowOpacity())
        self._fade_animation.setEndValue(0.0)
        self._fade_animation.start()

    def _faded(self) -> None:
        self.hide()
        self.setWindowOpacity(self.opacity)

    def _place(self) -> None:
        screen = QGuiApplication.primaryScreen()
        area = screen.availableGeometry()
        width = max(320, int(area.width() * self.width_share))
        metrics = QFontMetrics(self._font)
        lines = self._lines(metrics, width - 40)
        height = 24 + metrics.lineSpacing() * max(1, len(lines))
        x = area.x() + (area.width() - width) // 2
        margin = max(24, area.height() // 12)
        y = area.y() + margin if self.position == "top" else area.y() + area.height() - height - margin
        self.setGeometry(x, y, width, height)

    def _lines(self, metrics: QFontMetrics, width: int) -> list[str]:
        """The text wrapped to *width*; when longer than MAX_LINES, its newest lines."""
        lines, line = [], ""
        for word in self.text.split():
            candidate = f"{line} {word}".strip()
            if line and metrics.horizontalAdvance(candidate) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        if line:
            lines.append(line)
        return lines[-MAX_LINES:]

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        box = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        # Dark box with a light rim: readable over light and dark desktops alike.
        painter.setPen(QPen(QColor(255, 255, 255, 90), 1.5))
        painter.setBrush(QColor(20, 20, 24, 215))
        painter.drawRoundedRect(box, 12, 12)
        painter.setFont(self._font)
        metrics = QFontMetrics(self._font)
        lines = self._lines(metrics, self.width() - 40)
        y = 12 + metrics.ascent()
        colour = QColor(255, 255, 255) if self.final else QColor(225, 228, 235)
        for line in lines:
            x = (self.width() - metrics.horizontalAdvance(line)) / 2
            path = QPainterPath()
            path.addText(x, y, self._font, line)
            painter.strokePath(path, QPen(QColor(0, 0, 0, 160), 3))
            painter.fillPath(path, colour)
            y += metrics.lineSpacing()
        painter.end()
