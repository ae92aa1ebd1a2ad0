"""State icons for the tray and the control window, drawn at run time (crisp at any size)."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap

from .app_state import AppState

# Status colours: grey loading, teal ready, red listening, amber finishing, dark red error.
COLOURS = {
    AppState.LOADING: QColor(130, 130, 140),
    AppState.READY: QColor(0, 150, 136),
    AppState.RESTING: QColor(90, 120, 160),  # a calm blue: ready, the GPU given back
    AppState.LISTENING: QColor(220, 50, 47),
    AppState.FINISHING: QColor(230, 160, 0),
    AppState.ERROR: QColor(140, 20, 20),
}


def state_icon(state: AppState, size: int = 64) -> QIcon:
    icon = QIcon()
    for side in (16, 22, 24, 32, 48, size):
        icon.addPixmap(_draw(state, side))
    return icon


def _draw(state: AppState, side: int) -> QPixmap:
    pixmap = QPixmap(side, side)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(COLOURS[state])
    painter.drawEllipse(QRectF(0.5, 0.5, side - 1, side - 1))
    s = side / 64.0
    white = QColor(255, 255, 255)
    if state is AppState.ERROR:
        painter.setBrush(white)
        painter.drawRoundedRect(QRectF(28 * s, 12 * s, 8 * s, 28 * s), 3 * s, 3 * s)
        painter.drawEllipse(QRectF(28 * s, 44 * s, 8 * s, 8 * s))
    else:
        # A microphone: capsule, cradle and stand.
        painter.setBrush(white)
        painter.drawRoundedRect(QRectF(24 * s, 10 * s, 16 * s, 28 * s), 8 * s, 8 * s)
        pen = QPen(white, max(1.0, 4 * s))
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawArc(QRectF(17 * s, 18 * s, 30 * s, 28 * s), 180 * 16, 180 * 16)
        painter.drawLine(int(32 * s), int(46 * s), int(32 * s), int(54 * s))
        painter.drawLine(int(24 * s), int(54 * s), int(40 * s), int(54 * s))
    painter.end()
    return pixmap
