"""The deployment files (deploy/): what they ask the app to do is what it does, and the server
image builds and answers. The image test needs a Docker engine (it starts Debian's ``dockerd``
when it is installed and the tests run as root) and builds from a base image made here with
debootstrap, so that no image registry is needed; the CPU build of torch comes from this
machine's wheel folder (PIP_FIND_LINKS) when it holds one."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from support.models import SPEECH_MODEL
from support.service import free_port
from tools.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
TOKEN = "test-token-0123456789abcdef0123456789"


def test_the_kuberay_service_config_is_one_serve_accepts_with_options_the_app_reads():
    from ray.serve.schema import ServeDeploySchema

    from parakeet_desktop.cluster.options import ClusterOptions

    documents = list(yaml.safe_load_all((DEPLOY / "kuberay.yaml").read_text()))
    service = next(d for d in documents if d["kind"] == "RayService")
    config = ServeDeploySchema.model_validate(yaml.safe_load(service["spec"]["serveConfigV2"]))
    (app,) = config.applications
    assert app.import_path == "parakeet_desktop.cluster:app" and app.route_prefix == "/"
    options = ClusterOptions.from_args(app.args)
    assert options.gpus_per_replica == 1 and options.host == "0.0.0.0"
    (replicas,) = app.deployments
    assert replicas.name == "SpeechReplica" and replicas.autoscaling_config["max_replicas"] >= 2
    workers = service["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    assert workers["resources"]["limits"]["nvidia.com/gpu"] == 1  # one replica per GPU
    assert any(e["name"] == "PARAKEET_DESKTOP_API_TOKEN" for e in workers["env"])


def test_the_compose_file_and_the_image_run_commands_the_app_has():
    from parakeet_desktop.cli.main import build_parser

    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    command = [re.sub(r"\$\{GPUS:-(\d+)\}", r"\1", part) for part in compose["services"]["server"]["command"]]
    args = build_parser().parse_args(command)
    assert args.command == "cluster" and args.gpus_per_replica == 1 and args.host == "0.0.0.0"
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))
    assert build_parser().parse_args(cmd).command == "serve"
    assert re.search(r"^USER parakeet$", dockerfile, re.M) and "HEALTHCHECK" in dockerfile


def _docker_engine() -> bool:
    def answers() -> bool:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode == 0

    if shutil.which("docker") is None:
        return False
    if answers():
        return True
    if shutil.which("dockerd") is None or os.geteuid() != 0:
        return False
    subprocess.Popen(["dockerd"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if answers():
            return True
        time.sleep(1)
    return False


def test_the_server_image_builds_and_serves_the_api(tmp_path):
    if not _docker_engine() or shutil.which("debootstrap") is None:
        pytest.skip("needs a Docker engine and debootstrap (Debian's docker.io and debootstrap, run as root)")
    base = "parakeet-test-base:bookworm"
    if subprocess.run(["docker", "image", "inspect", base], capture_output=True).returncode != 0:
        rootfs = tmp_path / "rootfs"
        subprocess.run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
                        "bookworm", str(rootfs), "http://deb.debian.org/debian"], check=True, capture_output=True,
                       timeout=1800)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["docker", "import", "-", base], stdin=tar.stdout, check=True, capture_output=True)
        tar.wait()
    # The build context: the app as the repository has it, and this machine's CPU torch wheel.
    context = tmp_path / "context"
    shutil.copytree(ROOT / "parakeet_desktop", context / "parakeet_desktop",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, context / name)
    (context / "deploy" / "wheels").mkdir(parents=True)
    torch = "torch>=2.6,<2.15"
    for folder in filter(None, os.environ.get("PIP_FIND_LINKS", "").split()):
        for wheel in Path(folder).glob("torch-*+cpu-*.whl"):
            shutil.copy(wheel, context / "deploy" / "wheels")
            torch = "torch==" + wheel.name.split("-")[1]
    shutil.copy(DEPLOY / "Dockerfile", context / "deploy" / "Dockerfile")
    # This machine's certificates, one per file: its network may sign TLS itself (a proxy).
    (context / "deploy" / "certs").mkdir()
    bundle = Path(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt")
    pem = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", bundle.read_text(), re.S)
    for n, certificate in enumerate(pem):
        (context / "deploy" / "certs" / f"machine{n}.crt").write_text(certificate + "\n")
    image = "parakeet-desktop-server:test"
    built = subprocess.run(["docker", "build", "--network", "host", "-f", "deploy/Dockerfile", "-t", image,
                            "--build-arg", f"BASE={base}", "--build-arg", "TORCH_INDEX=https://pypi.org/simple",
                            "--build-arg", f"TORCH={torch}", "."], cwd=context, capture_output=True, text=True,
                           timeout=3600)
    assert built.returncode == 0, built.stderr[-4000:]

    port = free_port()
    models = tmp_path / "models"
    models.mkdir(mode=0o777)
    shutil.copy(SPEECH_MODEL, models / SPEECH_MODEL.name)
    os.chmod(models / SPEECH_MODEL.name, 0o644)
    name = f"parakeet-test-{port}"
    subprocess.run(["docker", "run", "-d", "--rm", "--name", name, "--network", "host",
                    "-e", f"PARAKEET_DESKTOP_API_TOKEN={TOKEN}", "-e", f"PORT={port}",
                    "-v", f"{models}:/models", image, "serve", "--host", "127.0.0.1", "--port", str(port),
                    "--model", f"/models/{SPEECH_MODEL.name}", "--device", "cpu"], check=True, capture_output=True)
    try:
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/health", timeout=5).json()["status"] == "ready"
            except (httpx.HTTPError, ValueError):
                return False

        wait_for(ready, 600, "the container's service")
        user = subprocess.run(["docker", "exec", name, "id", "-u"], capture_output=True, text=True).stdout.strip()
        assert user == "1000"  # not root
        models_list = httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {TOKEN}"})
        assert models_list.status_code == 200 and models_list.json()["data"][0]["id"] == SPEECH_MODEL.name
        assert httpx.get(f"{url}/v1/models").status_code == 401
        health = subprocess.run(["docker", "inspect", "--format", "{{json .State.Health}}", name],
                                capture_output=True, text=True).stdout
        assert "Status" in health
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
