"""``parakeet-desktop cluster``: the speech service on Ray Serve, one replica per GPU, on this
machine (a local Ray head) or on a running Ray cluster, until Ctrl+C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading

from ..engine.model import DEFAULT_MODEL_ID, DEVICE_CHOICES
from ..service.security import NON_LOOPBACK_WARNING, TOKEN_ENV, TOKEN_FILE, is_loopback, load_or_make_token
from ..settings import DEFAULT_API_PORT, config_dir
from .exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_MODEL, EXIT_OK
from .speakers import add_service_speaker_arguments
from .terminal import say

logger = logging.getLogger(__name__)

PROXY_START_SECONDS = 60  # what a local cluster's Serve gives its proxy to start

NO_RAY = ("error: the cluster needs Ray Serve, which this installation does not have: "
          "pip install 'parakeet-desktop[cluster]'")


def add_arguments(commands) -> None:
    cluster = commands.add_parser(
        "cluster", help="run the speech service on Ray Serve, one replica per GPU",
        description="Serve the same API as “serve” from several replicas behind Ray Serve's proxy: each "
                    "replica owns one model (one GPU each when the cluster has GPUs). Without --address, "
                    "a Ray head starts on this machine. Ctrl+C or SIGTERM stops it: streams get their "
                    "finals, then the replicas and the Ray head it started stop. The replicas' own logs are "
                    "in Ray's session folder (/tmp/ray/session_latest/logs), on the terminal with "
                    "--verbose. Exit status: 0 stopped, 1 cannot start, 3 the model could not be loaded.")
    cluster.add_argument("--address", metavar="ADDRESS",
                         help="a running Ray cluster: auto, host:port or ray://host:10001 (default: start one here)")
    count = cluster.add_mutually_exclusive_group()
    count.add_argument("--replicas", type=int, metavar="N", help="a fixed number of replicas (default: 1)")
    count.add_argument("--min-replicas", type=int, metavar="A", help="autoscaling: at least A replicas")
    cluster.add_argument("--max-replicas", type=int, metavar="B", help="autoscaling: at most B replicas")
    cluster.add_argument("--gpus-per-replica", type=float, metavar="G",
                         help="GPUs each replica holds (default: 1 on a cluster with GPUs, else 0)")
    cluster.add_argument("--cpus-per-replica", type=float, default=1.0, metavar="C",
                         help="CPUs each replica holds (default: 1)")
    cluster.add_argument("--num-cpus", type=int, metavar="N",
                         help="CPUs the Ray head started here offers (default: all of this machine's)")
    cluster.add_argument("--model", default=DEFAULT_MODEL_ID,
                         help=f"model id or path to a .nemo file on every node (default: {DEFAULT_MODEL_ID})")
    cluster.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="where replicas run the model")
    add_service_speaker_arguments(cluster)
    cluster.add_argument("--host", default="127.0.0.1",
                         help="address the proxy listens on (default: 127.0.0.1, this machine only)")
    cluster.add_argument("--port", type=int, default=DEFAULT_API_PORT, help=f"port (default: {DEFAULT_API_PORT})")
    cluster.add_argument("--max-queue", type=int, default=32, metavar="N",
                         help="HTTP requests each replica takes at once; when every replica is full, the "
                              "proxy holds a few more, then answers 429 (default: 32)")
    cluster.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                         help="let web pages from this origin use the service; may be given more than once")
    cluster.add_argument("--no-batching", dest="batching", action="store_false",
                         help="recognise each short request alone (less throughput under load)")


def run_cluster(args: argparse.Namespace) -> int:
    try:
        import ray
        from ray import serve
    except ImportError:
        say(NO_RAY)
        return EXIT_FAILED
    from ..cluster.application import APP_NAME, deploy
    from ..cluster.options import ClusterOptions, OptionError

    if args.max_replicas is not None and args.min_replicas is None:
        args.min_replicas = 1
    try:
        options = ClusterOptions(model=args.model, device=args.device, diarization_model=args.diarization_model,
                                 speaker_model=args.speaker_model, replicas=args.replicas,
                                 min_replicas=args.min_replicas, max_replicas=args.max_replicas,
                                 gpus_per_replica=args.gpus_per_replica, cpus_per_replica=args.cpus_per_replica,
                                 host=args.host, port=args.port, max_queue=args.max_queue,
                                 allow_origin=tuple(args.allow_origin), batching=args.batching)
        options.check()
    except OptionError as exc:
        say(f"error: {exc}")
        return EXIT_FAILED
    if not is_loopback(args.host):
        say(NON_LOOPBACK_WARNING.format(host=args.host))
    folder = config_dir()
    token = load_or_make_token(folder)
    source = f"the token from {TOKEN_ENV}" if os.environ.get(TOKEN_ENV, "").strip() else f"token: {folder / TOKEN_FILE}"
    if not args.verbose:
        logging.getLogger("ray.serve").setLevel(logging.WARNING)  # its progress lines: ours say it
    stopping = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stopping.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            if args.address:
                say(f"Connecting to the Ray cluster at {args.address} …")
                ray.init(address=args.address, logging_level=logging.WARNING, log_to_driver=args.verbose)
            else:
                say("Starting Ray on this machine …")
                # Serve gives its HTTP proxy 5 s to start, then kills it; on a busy machine (two
                # cores, another cluster starting beside it) it took longer, and the start failed.
                os.environ.setdefault("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", str(PROXY_START_SECONDS))
                ray.init(num_cpus=args.num_cpus, include_dashboard=False, logging_level=logging.WARNING,
                         log_to_driver=args.verbose)
            serve.start(http_options={"host": args.host, "port": args.port})
        except Exception as exc:  # Ray cannot start or reach its cluster
            say(f"error: Ray could not start: {exc}")
            return EXIT_FAILED
        say(f"Ray: {ray.get_runtime_context().gcs_address}")
        say(f"Deploying {options.model} …")
        try:
            deploy(options, token)
        except Exception as exc:  # a replica's model could not be loaded, or no resources
            say(f"error: the replicas could not start: {exc}")
            return EXIT_MODEL
        host = f"[{args.host}]" if ":" in args.host else args.host
        say(f"Serving on http://{host}:{args.port} ({source}). Ctrl+C stops.")
        say(f"Ready: {_replicas_line(serve, APP_NAME)}.")
        stopping.wait()
        say("Stopping: streams get their finals …")
        return EXIT_OK if stopping.is_set() else EXIT_INTERRUPTED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if ray.is_initialized():
            try:
                serve.delete(APP_NAME)  # its replicas drain: streams get their finals
            except Exception as exc:
                logger.warning("Stopping the application: %s", exc)
            ray.shutdown()
        say("Stopped.")


def _replicas_line(serve, app_name: str) -> str:
    status = serve.status().applications[app_name].deployments.get("SpeechReplica")
    counts = status.replica_states if status is not None else {}
    return ", ".join(f"{n} {state.lower()}" for state, n in counts.items()) + " replicas"
