"""A replica's side of the cluster's jobs (cluster/jobs.py) in this process, without Ray: the
routes' calls answered by a real job registry (cluster/registry.py), and the worker claiming a
job, running it on a real engine around the committed speech model, reporting and finishing it.
Ray Serve's handle is replaced by its shape only (each method's ``.remote(…)`` awaited); the
same code runs on a Ray cluster in tests/cluster/test_cluster.py."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from parakeet_desktop.cluster.jobs import ClusterJobs
from parakeet_desktop.cluster.registry import JobRegistry
from parakeet_desktop.engine.live.dictation import LiveSettings
from parakeet_desktop.engine.live.loop import LiveEngine
from parakeet_desktop.engine.recognize.files import AudioInput
from parakeet_desktop.service.errors import ApiError
from parakeet_desktop.service.keywords import RequestPhrases
from parakeet_desktop.service.link import EngineLink
from parakeet_desktop.service.options import TranscriptionOptions
from support.speech import held_out_utterances, silence, word_error_rate

OPTIONS = TranscriptionOptions()


class _Stored:
    """A job's samples as the object store gives them back: awaitable, as a Ray ObjectRef is."""

    def __init__(self, samples) -> None:
        self.samples = samples

    def __await__(self):
        if False:
            yield
        return self.samples


class _Handle:
    """What a Ray Serve deployment handle offers: ``handle.method.remote(*args)``, awaited."""

    def __init__(self, target) -> None:
        self._target = target

    def __getattr__(self, name):
        method = getattr(self._target, name)

        class _Remote:
            @staticmethod
            def remote(*args, **kwargs):
                return method(*args, **kwargs)

        return _Remote


@pytest.fixture
def engine_link(speech_model):
    link = EngineLink(speech_model.name)
    engine = LiveEngine(speech_model, LiveSettings(), lambda event: None, microphone=False)
    link.attach(engine)
    thread = threading.Thread(target=engine.run, name="test-engine", daemon=True)
    thread.start()
    yield link
    engine.shutdown()
    thread.join(60)


@pytest.fixture(scope="module")
def talk():
    (first, a), (second, b) = held_out_utterances(2)
    return f"{first} {second}", np.concatenate([silence(0.3), a, silence(0.8), b, silence(0.3)])


def test_a_job_posted_here_is_claimed_run_and_finished_by_the_worker(engine_link, talk):
    reference, samples = talk

    async def run():
        registry = JobRegistry(4, 2, 30.0, store=_Stored)
        jobs = ClusterJobs(engine_link, _Handle(registry), "replica-a", lambda: {"device": "cpu"})
        place = await jobs.reserve()
        posted = await jobs.add(place, AudioInput("talk.wav", samples), OPTIONS, RequestPhrases(()), None, None)
        assert posted["status"] == "queued" and await jobs.active() == 1
        jobs.start()
        for _ in range(600):
            done = await jobs.summary(posted["id"])
            if done["status"] not in ("queued", "running"):
                break
            await asyncio.sleep(0.1)
        await jobs.drain()
        return done, await jobs.listing()

    done, listing = asyncio.run(run())
    assert done["status"] == "completed", done
    assert word_error_rate([reference], [done["result"]["text"]]) <= 0.4
    assert [job["id"] for job in listing] == [done["id"]]


def test_a_full_cluster_says_when_to_come_back_and_unknown_jobs_are_404(engine_link, talk):
    async def run():
        registry = JobRegistry(1, 2, 30.0, store=_Stored)
        jobs = ClusterJobs(engine_link, _Handle(registry), "replica-a", dict)
        place = await jobs.reserve()
        await jobs.add(place, AudioInput("talk.wav", talk[1]), OPTIONS, RequestPhrases(()), None, None)
        with pytest.raises(ApiError) as busy:
            await jobs.reserve()
        assert busy.value.status == 429 and busy.value.retry_after >= 1
        with pytest.raises(ApiError) as missing:
            await jobs.summary("no-such-job")
        assert missing.value.status == 404
        with pytest.raises(ApiError):
            await jobs.cancel("no-such-job")
        other = JobRegistry(1, 2, 30.0, store=_Stored)
        spare = await ClusterJobs(engine_link, _Handle(other), "replica-b", dict).reserve()
        await ClusterJobs(engine_link, _Handle(other), "replica-b", dict).give_back(spare)
        assert "place" in await other.reserve(1.0)  # the place given back is free again

    asyncio.run(run())


def test_a_registry_that_does_not_answer_leaves_health_to_the_replica(engine_link):
    class _Gone:
        def __getattr__(self, name):
            raise ConnectionError("the registry's actor died")

    assert asyncio.run(ClusterJobs(engine_link, _Gone(), "replica-a", dict).active()) is None
