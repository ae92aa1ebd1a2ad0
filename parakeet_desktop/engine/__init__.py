"""The engine: Qt-free, audio in and text out, runnable without a display, a microphone or a GPU.

Five rooms, each a package whose ``__init__`` names what other layers may use:

- ``audio``: files decoded within bounds, the microphone, the speech gate, the spool;
- ``model``: the registry, download, device and number format, loading, the model itself;
- ``recognize``: files in batched pieces, the two streaming routes, vocabulary, transcripts;
- ``live``: the engine thread, its inbox and events, dictation sessions, jobs and rest;
- ``speakers``: who said what (the diarizer beside the recognizer, words given their speakers,
  names from the user or from reference clips).
"""

__all__ = ["audio", "live", "model", "recognize", "speakers"]
