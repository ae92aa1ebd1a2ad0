"""Audio in: files decoded within bounds (decode), the microphone (capture) and a file played as one
(file_device), the speech gate (vad), and the spool that keeps an utterance's audio on disk while
it is spoken (spool).

What other layers may use is named in ``__init__.pyi`` (``__all__``); each name is imported from
its module on first use, so that importing a name does not import the whole room (numpy, soundfile
and torch stay out of a command that does not need them).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
