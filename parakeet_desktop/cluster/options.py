"""The cluster application's options: from the ``cluster`` command, or from the ``args`` of a
Serve config file or KubeRay's ``serveConfigV2`` (strings there are read as the command reads
them), checked once, before anything is deployed."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from ..engine.model import DEFAULT_DIARIZATION_MODEL, DEFAULT_MODEL_ID, DEFAULT_SPEAKER_EMBEDDING_MODEL
from ..settings import DEFAULT_API_PORT


class OptionError(ValueError):
    """An option with a value the cluster cannot use; the message says which and why."""


@dataclass(frozen=True)
class ClusterOptions:
    model: str = DEFAULT_MODEL_ID
    device: str = "auto"
    # The models that tell speakers apart, for requests that ask (loaded on a replica's first).
    diarization_model: str = DEFAULT_DIARIZATION_MODEL
    speaker_model: str = DEFAULT_SPEAKER_EMBEDDING_MODEL
    replicas: int | None = None  # a fixed number; None with the bounds below: autoscaling
    min_replicas: int | None = None
    max_replicas: int | None = None
    # GPUs each replica holds: None = one on a cluster that has GPUs, none otherwise.
    gpus_per_replica: float | None = None
    cpus_per_replica: float = 1.0
    host: str = "127.0.0.1"  # where the proxy listens (the Host rule follows it)
    port: int = DEFAULT_API_PORT
    max_queue: int = 32  # HTTP requests a replica takes at once (queued or running)
    max_streams: int = 100  # WebSocket streams per replica
    # Requests the proxy holds while every replica is full; past it, 429 with Retry-After.
    max_queued_requests: int = 64
    allow_origin: tuple[str, ...] = ()
    max_jobs: int = 100
    job_attempts: int = 3
    job_lease_seconds: float = 15.0
    # Streams of a replica that is scaled down get their finals within this time.
    drain_seconds: float = 30.0
    target_ongoing_requests: float = 8.0  # autoscaling's aim per replica (requests and streams)
    batching: bool = True  # short requests arriving together are recognised together

    @classmethod
    def from_args(cls, args: dict | None) -> ClusterOptions:
        known = {f.name: f for f in fields(cls)}
        values: dict = {}
        for key, value in (args or {}).items():
            name = key.replace("-", "_")
            if name not in known:
                raise OptionError(f"unknown option {key!r}; known: {', '.join(sorted(known))}")
            values[name] = _read(name, value)
        options = cls(**values)
        options.check()
        return options

    def check(self) -> None:
        if self.replicas is not None and (self.min_replicas is not None or self.max_replicas is not None):
            raise OptionError("give either replicas or min_replicas/max_replicas, not both")
        low, high = self.min_replicas, self.max_replicas
        if (low is None) != (high is None):
            raise OptionError("autoscaling needs both min_replicas and max_replicas")
        if low is not None and high is not None and (not 0 <= low <= high or high < 1):
            raise OptionError(f"the replica bounds must be 0 ≤ min ≤ max, max ≥ 1 (got {low}..{high})")
        if self.replicas is not None and self.replicas < 1:
            raise OptionError(f"replicas must be at least 1 (got {self.replicas})")
        for name in ("max_queue", "max_streams", "max_jobs", "job_attempts"):
            if getattr(self, name) < 1:
                raise OptionError(f"{name} must be at least 1 (got {getattr(self, name)})")
        for name in ("cpus_per_replica", "job_lease_seconds", "drain_seconds", "target_ongoing_requests"):
            if not getattr(self, name) > 0:
                raise OptionError(f"{name} must be more than 0 (got {getattr(self, name)})")
        if self.gpus_per_replica is not None and self.gpus_per_replica < 0:
            raise OptionError(f"gpus_per_replica cannot be negative (got {self.gpus_per_replica})")
        if not 0 <= self.port < 65536:
            raise OptionError(f"port must be 0 to 65535 (got {self.port})")

    def as_args(self) -> dict:
        """The options that differ from the defaults, as a Serve config's ``args``; the replica
        counts are not among them (see :meth:`scaling`)."""
        defaults = ClusterOptions().for_replicas()
        options = self.for_replicas()
        return {f.name: list(v) if isinstance(v := getattr(options, f.name), tuple) else v
                for f in fields(options) if getattr(options, f.name) != getattr(defaults, f.name)}

    def scaling(self) -> dict:
        """The replica counts as a Serve config's deployment options: changed there, Serve scales
        the replicas in place (changed in ``args``, it would rebuild the application)."""
        if self.min_replicas is not None:
            return {"autoscaling_config": {
                "min_replicas": self.min_replicas, "max_replicas": self.max_replicas,
                "initial_replicas": max(1, self.min_replicas),
                "target_ongoing_requests": self.target_ongoing_requests}}
        return {"num_replicas": self.replicas or 1}

    def for_replicas(self) -> ClusterOptions:
        """What a replica is built with: without the counts, so that changing them scales the
        deployment in place instead of replacing every replica."""
        return replace(self, replicas=None, min_replicas=None, max_replicas=None)

    def deployment(self, gpus: float) -> dict[str, Any]:
        """The speech deployment's Serve options."""
        return {
            **self.scaling(),
            "ray_actor_options": {"num_cpus": self.cpus_per_replica, "num_gpus": gpus},
            # What the router sends one replica: its HTTP queue, its streams (a WebSocket is an
            # ongoing request for its whole life) and room for the light calls (health, jobs).
            "max_ongoing_requests": self.max_queue + self.max_streams + 16,
            "max_queued_requests": self.max_queued_requests,
            "backpressure_config": {"status_code": 429, "retry_after_s": 5},
            "graceful_shutdown_timeout_s": self.drain_seconds + 10,
            "graceful_shutdown_wait_loop_s": 1.0,
            "health_check_period_s": 5.0,
            # Loading a model from the hub on the first start takes minutes.
            "health_check_timeout_s": 60.0,
            "max_constructor_retry_count": 3,
            **QUIET,  # a model that cannot load will not load the fourth time
        }


# Serve logs every request a replica answers; the service's own warnings are enough.
QUIET: dict[str, Any] = {"logging_config": {"enable_access_log": False, "log_level": "WARNING"}}

_INTS = {"replicas", "min_replicas", "max_replicas", "port", "max_queue", "max_streams", "max_queued_requests",
         "max_jobs", "job_attempts"}
_FLOATS = {"gpus_per_replica", "cpus_per_replica", "job_lease_seconds", "drain_seconds", "target_ongoing_requests"}


def _read(name: str, value):
    if value is None:
        return None
    try:
        if name in _INTS:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if name in _FLOATS:
            return float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{name} must be a number (got {value!r})") from None
    if name == "batching":
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if isinstance(value, bool):
            return value
        raise OptionError(f"batching must be true or false (got {value!r})")
    if name == "allow_origin":
        return (value,) if isinstance(value, str) else tuple(str(v) for v in value)
    return str(value)

