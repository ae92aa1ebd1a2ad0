"""Who said what: the diarizer beside the recognizer (diarizer: Sortformer's speaker activity and
turns, whole or streamed with its speaker cache), each word and segment given its speaker
(attribution), and speakers' names from the user or from reference clips (names: TitaNet
embeddings compared with a threshold).

What other layers may use is named in ``__init__.pyi`` (``__all__``); each name is imported from
its module on first use.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
