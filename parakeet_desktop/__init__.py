"""Parakeet Desktop: local dictation and file transcription with NVIDIA Parakeet."""

__version__ = "0.1.0"
