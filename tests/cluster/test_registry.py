"""The cluster's job book (cluster/registry.py) in this process, without Ray: places, claims,
leases that run out, attempts, hand-backs and cancels, as a replica's worker meets them. The
same registry runs as a Ray Serve deployment in tests/cluster/test_cluster.py."""

from __future__ import annotations

import asyncio

import numpy as np

from parakeet_desktop.cluster import registry as registry_module
from parakeet_desktop.cluster.registry import JobRegistry
from parakeet_desktop.engine.recognize.transcript import Segment, Transcript, Word
from parakeet_desktop.service.options import TranscriptionOptions

OPTIONS = TranscriptionOptions()


def _transcript(text: str) -> Transcript:
    words = tuple(Word(word, n * 0.5, n * 0.5 + 0.4) for n, word in enumerate(text.split()))
    return Transcript("talk.wav", 3.0, [Segment(0.0, words[-1].end, text, words)])


def _registry(limit: int = 4, attempts: int = 2, lease: float = 0.2) -> JobRegistry:
    return JobRegistry(limit, attempts, lease, store=lambda samples: ("stored", samples))


async def _queued(registry: JobRegistry, name: str = "talk.wav") -> str:
    place = (await registry.reserve(1.0))["place"]
    job = await registry.add(place, name, 3.0, OPTIONS, None, ("Parakeet",), np.zeros(8))
    assert job["status"] == "queued"
    return job["id"]


def test_a_job_is_claimed_reported_and_finished_with_its_audio_and_phrases():
    async def run():
        registry = _registry()
        job_id = await _queued(registry)
        claim = await registry.claim("replica-a", {"device": "cpu"}, wait=0)
        assert claim[0] == job_id and claim[1] == 1 and claim[2] == "talk.wav" and claim[4] == ("Parakeet",)
        assert claim[5][0][0] == "stored"  # what every replica reaches: the store's handle
        assert await registry.progress(job_id, 1, 0.5, "replica-a", {"device": "cpu"})
        running = await registry.summary(job_id)
        assert running["status"] == "running" and running["replica"] == "replica-a" and running["attempt"] == 1
        await registry.finish(job_id, 1, "completed", _transcript("hello there"), None)
        done = await registry.summary(job_id)
        assert done["status"] == "completed" and "replica" not in done and done["result"]["text"] == "hello there"
        assert await registry.active() == 0
        view = await registry.cluster_view()
        assert view["replicas"] == [{"replica": "replica-a", "device": "cpu"}] and view["jobs"] == 0

    asyncio.run(run())


def test_a_quiet_replica_loses_its_job_to_another_and_its_late_answer_is_dropped():
    async def run():
        registry = _registry(attempts=3, lease=0.05)
        job_id = await _queued(registry)
        await registry.claim("replica-a", {}, wait=0)
        await asyncio.sleep(0.1)  # past the lease: replica-a said nothing
        claim = await registry.claim("replica-b", {}, wait=1.0)
        assert claim[0] == job_id and claim[1] == 2
        assert not await registry.progress(job_id, 1, 0.9, "replica-a", {})  # the old attempt is told to stop
        await registry.finish(job_id, 1, "completed", _transcript("stale words"), None)
        assert (await registry.summary(job_id))["status"] == "running"
        await registry.finish(job_id, 2, "completed", _transcript("fresh words"), None)
        done = await registry.summary(job_id)
        assert done["status"] == "completed" and done["result"]["text"] == "fresh words"

    asyncio.run(run())


def test_past_its_attempts_a_job_fails_with_the_reason():
    async def run():
        registry = _registry(attempts=1, lease=0.05)
        job_id = await _queued(registry)
        await registry.claim("replica-a", {}, wait=0)
        await asyncio.sleep(0.1)
        failed = await registry.summary(job_id)
        assert failed["status"] == "failed" and "stopped answering, 1 times" in failed["error"]["message"]
        assert await registry.claim("replica-b", {}, wait=0) is None

    asyncio.run(run())


def test_a_draining_replica_hands_its_job_back_without_spending_an_attempt():
    async def run():
        registry = _registry(attempts=1)
        job_id = await _queued(registry)
        first = await registry.claim("replica-a", {}, wait=0)
        await registry.hand_back(job_id, first[1])
        assert (await registry.summary(job_id))["status"] == "queued"
        again = await registry.claim("replica-b", {}, wait=0)
        assert again[0] == job_id and again[1] == 1  # still its first attempt

    asyncio.run(run())


def test_a_waiting_claim_wakes_when_a_job_arrives():
    async def run():
        registry = _registry()
        waiting = asyncio.create_task(registry.claim("replica-a", {}, wait=30))
        await asyncio.sleep(0.05)
        job_id = await _queued(registry)
        claim = await asyncio.wait_for(waiting, 10)
        assert claim[0] == job_id

    asyncio.run(run())


def test_a_cancelled_job_stops_its_replica_and_a_full_book_says_when_to_come_back(monkeypatch):
    async def run():
        registry = _registry(limit=1)
        job_id = await _queued(registry)
        busy = await registry.reserve(1.0)
        assert "busy" in busy and busy["retry_after"] >= 1
        claim = await registry.claim("replica-a", {}, wait=0)
        cancelled = await registry.cancel(job_id)
        assert cancelled["status"] == "cancelled"
        assert not await registry.progress(job_id, claim[1], 0.5, "replica-a", {})
        assert await registry.cancel("no-such-job") is None and await registry.summary("no-such-job") is None
        # A place whose upload never came back is given back after a while.
        place = (await registry.reserve(1.0))["place"]
        monkeypatch.setattr(registry_module, "RESERVATION_SECONDS", 0.0)
        await registry.listing()
        assert place not in registry.places and "place" in await registry.reserve(1.0)

    asyncio.run(run())
