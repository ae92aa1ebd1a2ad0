"""The engine thread: every command it takes (inbox) and every event it emits (events), its plain
enums (modes), the loop that serves dictation, then other programs' streams, then file jobs
(loop, stream_steps, job_queue, work), the dictation session (dictation), the microphone watched
(microphone_watch), and resting the model when idle (rest)."""

from .dictation import LiveSettings
from .events import (
    ErrorEvent,
    Event,
    FileDone,
    FileProgress,
    Final,
    FinalReason,
    Level,
    MicrophoneState,
    ModelResting,
    Notice,
    Outcome,
    Partial,
    StateChanged,
    StreamStopped,
    WakingUp,
)
from .loop import LiveEngine
from .modes import FinalPass, Mode, SessionState
from .work import FileJob, Priority, Stream

__all__ = [
    "ErrorEvent", "Event", "FileDone", "FileJob", "FileProgress", "Final", "FinalPass",
    "FinalReason", "Level", "LiveEngine", "LiveSettings", "MicrophoneState", "Mode",
    "ModelResting", "Notice", "Outcome", "Partial", "Priority", "SessionState", "StateChanged", "Stream",
    "StreamStopped", "WakingUp",
]
