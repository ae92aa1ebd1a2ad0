"""What ``serve`` and ``cluster`` say when they cannot start, before any model or cluster is up:
the option that is wrong, the port that is taken, the model that cannot load; one line each,
the exit status for scripts, never a traceback. The services themselves are the ``service`` and
``cluster`` groups' tests."""

from __future__ import annotations

import socket

from support.cli import run_cli
from support.models import SPEECH_MODEL


def test_serve_with_a_model_that_cannot_load_says_so_and_exits_three(tmp_path, app_dirs):
    notes = tmp_path / "notes.nemo"
    notes.write_text("not a model\n" * 100)
    result = run_cli("serve", "--model", str(notes), "--device", "cpu", "--port", "0")
    assert result.returncode == 3, result.stderr
    assert "Serving on http://127.0.0.1:" in result.stderr and "error:" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_serve_on_a_port_that_is_taken_says_so(app_dirs):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli("serve", "--model", str(SPEECH_MODEL), "--device", "cpu", "--port", str(port))
    assert result.returncode == 1, result.stderr
    assert "error: the service cannot start" in result.stderr and "Traceback" not in result.stderr


def test_cluster_options_it_cannot_use_are_refused_before_ray_starts(app_dirs):
    bad = run_cli("cluster", "--model", str(SPEECH_MODEL), "--replicas", "0")
    assert bad.returncode == 1 and "replicas must be at least 1" in bad.stderr and "Traceback" not in bad.stderr
    bounds = run_cli("cluster", "--model", str(SPEECH_MODEL), "--min-replicas", "2", "--max-replicas", "1")
    assert bounds.returncode == 1 and "min ≤ max" in bounds.stderr
