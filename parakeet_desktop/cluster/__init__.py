"""The local speech service past one machine: a Ray Serve application whose replicas each own one
engine and one model (one GPU each on a GPU cluster), behind Serve's proxy, serving the same HTTP
and WebSocket API as ``parakeet-desktop serve``.

``parakeet_desktop.cluster:app`` is an application builder: ``serve run
parakeet_desktop.cluster:app model=… replicas=2``, a Serve config file's ``import_path`` with its
``args``, or KubeRay's ``serveConfigV2``; ``parakeet-desktop cluster`` deploys it for you.
Importing this package imports Ray (the ``cluster`` extra).
"""

from .application import app, build

__all__ = ["app", "build"]
