"""Which streaming route an utterance takes: the buffered scheme (``streaming.py``) for an
offline model, the cache-aware one (``cache_aware.py``) for a model whose encoder streams
natively; the route is read from the model, never from its name."""

from __future__ import annotations

from typing import TypeAlias

from ..model import ParakeetModel
from .cache_aware import CacheAwareConfig, CacheAwareTranscriber, default_step, nearest_step
from .flags import Flag
from .latency import Latency
from .streaming import StreamingChoice, StreamingConfig, StreamingTranscriber, StreamTap, default_config
from .vocabulary import Vocabulary

Settings: TypeAlias = StreamingChoice | StreamingConfig | CacheAwareConfig


def route_config(settings: Settings, model: ParakeetModel) -> StreamingConfig | CacheAwareConfig:
    """*settings* resolved for *model* as it is now (its device may have changed):

    - a choice: the buffered sizes of its latency preset for the device, or a cache-aware
      model's step (the preset's, or the offered one nearest the step asked for);
    - buffered sizes given outright: as given for an offline model; a cache-aware model streams
      its own way at its default step (re-encoded buffers give it other, worse text);
    - a step given outright: the nearest offered; an offline model streams the buffered way.
    """
    if not model.streaming_contexts:
        return default_config(model.device) if isinstance(settings, CacheAwareConfig) else settings.for_device(
            model.device)
    if isinstance(settings, CacheAwareConfig):
        return CacheAwareConfig(nearest_step(model, settings.step))
    if isinstance(settings, StreamingChoice):
        step = default_step(model, settings.latency) if settings.step is None else nearest_step(model, settings.step)
        return CacheAwareConfig(step)
    return CacheAwareConfig(default_step(model, Latency.BALANCED))


def transcriber_for(model: ParakeetModel, config: StreamingConfig | CacheAwareConfig, cancel: Flag | None = None,
                    tap: StreamTap | None = None, vocabulary: Vocabulary | None = None):
    """The recogniser of the route *config* names (from :func:`route_config`)."""
    if isinstance(config, CacheAwareConfig):
        return CacheAwareTranscriber(model, config, cancel, tap, vocabulary)
    return StreamingTranscriber(model, config, cancel, tap, vocabulary)
