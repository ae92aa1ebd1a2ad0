"""The speech model: which models there are (registry), getting one (download), the device and
number format it runs in (devices), loading it ready for every use (loader), the model itself
(speech: recognition in batches; gpu: out of memory, its GPU memory given back and taken again),
and the CPU's faster paths (packed, lean_encoder, quantize, memory).

What other layers may use is named in ``__init__.pyi`` (``__all__``); each name is imported from
its module on first use, so that importing a name does not import the whole room (numpy, soundfile
and torch stay out of a command that does not need them).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
