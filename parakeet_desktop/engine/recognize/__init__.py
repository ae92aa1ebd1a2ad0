"""Recognition over time: files cut at pauses into pieces (pieces) and batched (files), live
captions by re-encoding buffers (streaming) or with a cache-aware model (cache_aware, carried),
which of the two an utterance takes (stream_route), phrase boosting (vocabulary), the transcript
with its word times (transcript), its language (language), and what stops a long step early
(flags).

What other layers may use is named in ``__init__.pyi`` (``__all__``); each name is imported from
its module on first use, so that importing a name does not import the whole room (numpy, soundfile
and torch stay out of a command that does not need them).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
