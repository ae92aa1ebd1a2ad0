"""Recognition over time: files cut at pauses into pieces (pieces) and batched (files), live
captions by re-encoding buffers (streaming) or with a cache-aware model (cache_aware, carried),
which of the two an utterance takes (stream_route), phrase boosting (vocabulary), the transcript
with its word times (transcript), its language (language), and what stops a long step early
(flags)."""

from .cache_aware import CacheAwareConfig, CacheAwareTranscriber, encode_steps, step_seconds
from .files import AudioInput, FileResult, FileTranscriber
from .flags import AnyOf, Flag
from .language import Language, identify, language_code_of, named, unsupported, warm_up
from .latency import Latency
from .pieces import SPEECH_WITHOUT_WORDS_SECONDS, speech_without_words, unheard_speech_warning
from .stream_route import route_config, transcriber_for
from .streaming import GPU_DEFAULT, StreamingChoice, StreamingConfig, StreamTap
from .transcript import Segment, Transcript, Word, floor_ms, join_texts, replace_phrases
from .vocabulary import NO_LIST, PhraseLists, Vocabulary, clean_phrases, read_vocabulary

__all__ = [
    "Latency", "AnyOf", "AudioInput", "CacheAwareConfig", "CacheAwareTranscriber", "clean_phrases", "encode_steps",
    "FileResult", "FileTranscriber", "Flag", "floor_ms", "GPU_DEFAULT", "identify", "join_texts", "Language",
    "language_code_of", "named", "NO_LIST", "PhraseLists", "read_vocabulary", "replace_phrases",
    "route_config", "Segment", "speech_without_words", "SPEECH_WITHOUT_WORDS_SECONDS", "step_seconds",
    "StreamingChoice", "StreamingConfig", "StreamTap", "transcriber_for", "Transcript",
    "unheard_speech_warning", "unsupported", "Vocabulary", "warm_up", "Word",
]
