"""The groups of tests, in one place: conftest.py marks each test with its group, and
tools/run-tests runs the fast tier as the tests in none (``python tests/support/groups.py`` prints
the marker expression of all groups)."""

# The groups of tests, by what a test needs (docs/development.md says which to run when). A test
# in none of them is in the fast tier, `tools/run-tests --fast`: no Docker build, no Ray cluster,
# no X server or compositor, no service in a subprocess, no training, no long audio.
GROUPS = {
    "desktop": "an X server (Xvfb), a compositor (headless sway) or a systemd user manager",
    "desktops": "a real desktop's own compositor and portals (KDE Plasma 5.27)",
    "e2e": "the whole app on a real desktop, as a user runs it",
    "service": "the speech service or another program started as a subprocess around a model",
    "cluster": "the service on a Ray cluster",
    "docker": "the server image built with Docker",
    "long": "training, long audio or a benchmark",
}
# By a fixture the test uses (directly or through other fixtures)...
GROUP_OF_FIXTURE = {
    "cluster_service": "cluster",
    "service_process": "service",
    "served": "service",  # tests/service/test_service.py: serve's or the cluster's, chosen at run time
    "local_api": "service",  # tests/serverless/test_runpod.py: the RunPod worker's API server
    "worker_process": "service",
    "x_display": "desktop",
    "systemd_user": "desktop",
    # Long audio (ten minutes and more of it, in all) and training:
    "long_talk": "long",
    "long_utterances": "long",
    "long_dictation": "long",
    "long_talk_in_pieces": "long",
    "train_fixture_model": "long",
}
# ...else by where it is under tests/, the first that matches.
GROUP_OF_PATH = {
    "e2e/": "e2e",
    "desktops/": "desktops",
    "desktop/test_hotkey_x11.py": "desktop",  # its own X servers besides the session's
    "cluster/test_cluster.py": "cluster",
    "test_deploy.py": "docker",
    "test_benchmarks.py": "long",
}


if __name__ == "__main__":
    print(" or ".join(GROUPS))
