"""Who said what: the diarizer beside the recognizer (diarizer: Sortformer's speaker activity and
turns, whole or streamed with its speaker cache), each word and segment given its speaker
(attribution), and speakers' names from the user or from reference clips (names: TitaNet
embeddings compared with a threshold)."""

from .attribution import SPEAKER_COUNTS, default_name, parse_names, rename, with_speakers
from .diarizer import OFFLINE_SECONDS, Diarization, Diarizer, Turn, load_diarizer, turns_of
from .labelling import SpeakerLabeller, SpeakerRequest, speaker_count
from .names import DEFAULT_THRESHOLD, Match, SpeakerEmbedder, check_reference, load_embedder, match_references

__all__ = [
    "check_reference", "default_name", "DEFAULT_THRESHOLD", "Diarization", "Diarizer", "load_diarizer",
    "load_embedder", "Match", "match_references", "OFFLINE_SECONDS", "parse_names", "rename", "SPEAKER_COUNTS",
    "speaker_count", "SpeakerEmbedder", "SpeakerLabeller", "SpeakerRequest", "Turn", "turns_of", "with_speakers",
]
