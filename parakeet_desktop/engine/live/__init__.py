"""The engine thread: every command it takes (inbox) and every event it emits (events), its plain
enums (modes), the loop that serves dictation, then other programs' streams, then file jobs
(loop, stream_steps, job_queue, work), the dictation session (dictation), the microphone watched
(microphone_watch), and resting the model when idle (rest).

What other layers may use is named in ``__init__.pyi`` (``__all__``); each name is imported from
its module on first use, so that importing a name does not import the whole room (numpy, soundfile
and torch stay out of a command that does not need them).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
