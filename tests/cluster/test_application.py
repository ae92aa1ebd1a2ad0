"""The cluster's application as it is configured (cluster/options.py, cluster/application.py,
cluster/replica.py), built in this process: a Serve config's ``args`` read and checked, the
replica counts kept out of them (so that Serve scales in place), the deployments' options, and the
one-line reason a failed deployment gives. Nothing here starts Ray; tests/cluster/test_cluster.py
runs the application on a cluster."""

from __future__ import annotations

import pytest

serve = pytest.importorskip("ray.serve")

from parakeet_desktop.cluster.application import APP_NAME, _reason, build  # noqa: E402
from parakeet_desktop.cluster.options import ClusterOptions, OptionError  # noqa: E402
from parakeet_desktop.cluster.replica import _state  # noqa: E402


def test_a_configs_args_are_read_as_their_types_and_checked():
    options = ClusterOptions.from_args({"model": "speech.nemo", "min-replicas": "0", "max_replicas": "3",
                                        "job_lease_seconds": "20", "allow_origin": ["http://localhost:3000"]})
    assert (options.min_replicas, options.max_replicas, options.job_lease_seconds) == (0, 3, 20.0)
    assert options.scaling()["autoscaling_config"] == {"min_replicas": 0, "max_replicas": 3, "initial_replicas": 1,
                                                       "target_ongoing_requests": 8.0}
    # The counts go in the deployment's options, never in args: changing them scales in place.
    assert options.as_args() == {"model": "speech.nemo", "job_lease_seconds": 20.0,
                                 "allow_origin": ["http://localhost:3000"]}
    deployment = ClusterOptions(replicas=2, max_queue=10, max_streams=5).deployment(gpus=1.0)
    assert deployment["num_replicas"] == 2 and deployment["ray_actor_options"] == {"num_cpus": 1.0, "num_gpus": 1.0}
    assert deployment["max_ongoing_requests"] == 10 + 5 + 16
    assert deployment["backpressure_config"]["status_code"] == 429


@pytest.mark.parametrize("args, says", [
    ({"replicas": 0}, "replicas must be at least 1"),
    ({"replicas": 2, "min_replicas": 1}, "not both"),
    ({"min_replicas": 1}, "needs both"),
    ({"min_replicas": 2, "max_replicas": 1}, "0 ≤ min ≤ max"),
    ({"port": 70000}, "port must be 0 to 65535"),
    ({"job_lease_seconds": 0}, "job_lease_seconds must be more than 0"),
    ({"replica": 2}, "unknown option 'replica'"),
])
def test_options_the_cluster_cannot_use_are_refused_with_the_reason(args, says):
    with pytest.raises(OptionError, match=says):
        ClusterOptions.from_args(args)


def test_the_application_is_the_replicas_in_front_of_the_job_registry():
    application = build(ClusterOptions(model="speech.nemo", device="cpu", replicas=2), token="secret")
    assert isinstance(application, serve.Application)


def test_a_failed_deployment_gives_the_replicas_own_reason_in_one_line():
    from ray.serve._private.common import DeploymentStatus, DeploymentStatusTrigger
    from ray.serve.schema import ApplicationStatus, ApplicationStatusOverview, DeploymentStatusOverview

    def status(message: str) -> ApplicationStatusOverview:
        replica = DeploymentStatusOverview(
            status=DeploymentStatus.DEPLOY_FAILED, status_trigger=DeploymentStatusTrigger.REPLICA_STARTUP_FAILED,
            replica_states={}, message=message)
        return ApplicationStatusOverview(status=ApplicationStatus.DEPLOY_FAILED, message="", last_deployed_time_s=0,
                                         deployments={"SpeechReplica": replica})

    traceback = ("Traceback (most recent call last):\n  File ...\nRuntimeError: the model could not be loaded: "
                 "notes.nemo is not a .nemo file\n")
    assert _reason(status(traceback)) == "the model could not be loaded: notes.nemo is not a .nemo file"
    assert _reason(status("The replica died.\nIts node went away.")) == "Its node went away."
    assert _reason(status("")) == ApplicationStatus.DEPLOY_FAILED


def test_a_replica_finds_its_own_state_in_the_controllers_details():
    details = {"applications": {APP_NAME: {"deployments": {"SpeechReplica": {"replicas": [
        {"replica_id": "a", "state": "RUNNING"}, {"replica_id": "b", "state": "STOPPING"}]}}}}}
    assert _state(details, APP_NAME, "SpeechReplica", "b") == "STOPPING"
    assert _state(details, APP_NAME, "SpeechReplica", "gone") is None
    assert _state({}, APP_NAME, "SpeechReplica", "a") is None
