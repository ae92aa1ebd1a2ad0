"""The application: the speech replicas (the ingress) and the job registry beside them, and its
deployment from a Serve config (what ``serve run config.yaml`` and KubeRay do), so that changing
the number of replicas scales them in place."""

from __future__ import annotations

import os
import re

from ..service.security import TOKEN_ENV, load_or_make_token
from ..settings import config_dir
from .options import QUIET, ClusterOptions
from .registry import JobRegistry
from .replica import SpeechReplica

APP_NAME = "parakeet"
IMPORT_PATH = "parakeet_desktop.cluster:app"
DEPLOY_TIMEOUT_SECONDS = 900.0  # a first start downloads the model on every node


def app(args: dict | None = None):
    """The application builder Serve calls with a config file's ``args`` (strings allowed)."""
    return build(ClusterOptions.from_args(args))


def build(options: ClusterOptions, token: str | None = None):
    """The application for *options*. The token: *token*, else the service's own (the
    PARAKEET_DESKTOP_API_TOKEN variable, or the api-token file in the config folder of the
    machine that builds the application), passed to every replica."""
    import ray
    from ray import serve

    gpus = options.gpus_per_replica
    if gpus is None:
        gpus = 1.0 if ray.is_initialized() and ray.cluster_resources().get("GPU", 0) > 0 else 0.0
    registry = serve.deployment(name="JobRegistry", num_replicas=1, ray_actor_options={"num_cpus": 0},
                                max_ongoing_requests=100_000, **QUIET)(JobRegistry)
    replicas = serve.deployment(name="SpeechReplica", **options.deployment(gpus))(serve.ingress()(SpeechReplica))
    token = token or os.environ.get(TOKEN_ENV, "").strip() or load_or_make_token(config_dir())
    return replicas.bind(options.for_replicas(), token,
                         registry.bind(options.max_jobs, options.job_attempts, options.job_lease_seconds))


class DeployFailed(RuntimeError):
    """The application did not start; the message is Serve's reason."""


def deploy(options: ClusterOptions, token: str, timeout: float = DEPLOY_TIMEOUT_SECONDS) -> None:
    """Deploy (or update) the application on the Serve instance this process is connected to,
    through the Serve config path, and wait until it runs. The token travels in the
    application's environment, so replicas on other machines answer to the same one."""
    import time

    from ray import serve
    from ray.serve.context import _get_global_client
    from ray.serve.schema import ServeDeploySchema

    config = ServeDeploySchema.model_validate({"applications": [{
        "name": APP_NAME, "route_prefix": "/", "import_path": IMPORT_PATH, "args": options.as_args(),
        "deployments": [{"name": "SpeechReplica", **options.scaling()}],
        "runtime_env": {"env_vars": {TOKEN_ENV: token}}}]})
    client = _get_global_client()
    if client is None:
        raise DeployFailed("Serve is not running on this Ray cluster")
    client.deploy_apps(config)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = serve.status().applications.get(APP_NAME)
        if status is not None and status.status == "RUNNING":
            return
        if status is not None and status.status in ("DEPLOY_FAILED", "UNHEALTHY"):
            raise DeployFailed(_reason(status))
        time.sleep(0.5)
    raise DeployFailed(f"the application was not running after {timeout:.0f} s")


def _reason(status) -> str:
    """Why the application failed, in one line: a replica's own message (the model that could not
    be loaded) rather than Serve's traceback around it."""
    messages = [status.message or ""] + [d.message or "" for d in status.deployments.values()]
    pattern = re.compile(r"Error: (the model could not be loaded: [^\n]*)")
    found = [hit for message in messages for hit in pattern.findall(message)]
    if found:
        return found[-1]
    lines = [line for message in messages for line in message.strip().splitlines() if line.strip()]
    return lines[-1] if lines else status.status
