"""A replica's side of the cluster's jobs: the routes' backend (the same calls as
service/jobs.py's LocalJobs, answered by the registry) and the worker that claims jobs and runs
them on this replica's engine, one at a time, at the lowest priority.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

import numpy as np

from ..engine.recognize import AudioInput, Vocabulary
from ..service.errors import ApiError
from ..service.jobs import Ending, not_found, run_on_engine
from ..service.keywords import RequestPhrases, with_request_phrases
from ..service.link import EngineLink
from ..service.options import TranscriptionOptions

logger = logging.getLogger(__name__)

CLAIM_WAIT_SECONDS = 2.0  # a claim's long poll; also how often an idle replica reports
REPORT_SECONDS = 1.0  # a running job's progress reports (they renew its lease)



class ClusterJobs:
    def __init__(self, link: EngineLink, registry, replica: str, report: Callable[[], dict]) -> None:
        self.link = link
        self.registry = registry  # a DeploymentHandle to the JobRegistry
        self.replica = replica
        self.report = report
        self.claiming = True  # False once this replica drains
        self._running: tuple[str, int, threading.Event] | None = None
        self._worker: asyncio.Task | None = None

    # --- the routes' backend --------------------------------------------------------------------

    async def active(self) -> int | None:
        """Jobs queued or running in the whole cluster; None while the registry does not answer
        (``/health`` still answers for this replica)."""
        try:
            return await self.registry.active.remote()
        except Exception as exc:
            logger.warning("Cannot reach the job registry: %s", exc)
            return None

    async def reserve(self) -> str:
        answer = await self.registry.reserve.remote(self.link.compute_ratio)
        if "busy" in answer:
            raise ApiError(429, answer["busy"], code="rate_limit_exceeded", retry_after=answer["retry_after"])
        return answer["place"]

    async def give_back(self, place: str) -> None:
        await self.registry.give_back.remote(place)

    async def add(self, place: str, audio: AudioInput, options: TranscriptionOptions, phrases: RequestPhrases,
                  vocabulary: Vocabulary | None, warning: str | None) -> dict:
        # The samples go to the registry (its object store), so that any replica can run the job.
        return await self.registry.add.remote(place, audio.name, audio.duration, options, warning,
                                              phrases.phrases, np.asarray(audio.samples))

    async def summary(self, job_id: str) -> dict:
        document = await self.registry.summary.remote(job_id)
        if document is None:
            raise not_found(job_id)
        return document

    async def listing(self) -> list[dict]:
        return await self.registry.listing.remote()

    async def cancel(self, job_id: str) -> dict:
        document = await self.registry.cancel.remote(job_id)
        if document is None:
            raise not_found(job_id)
        running = self._running
        if running is not None and running[0] == job_id:
            running[2].set()  # running here: stopped now rather than at the next report
        return document

    # --- the worker -------------------------------------------------------------------------------

    def start(self) -> None:
        self._worker = asyncio.create_task(self._work())

    async def drain(self) -> None:
        """This replica is going: claim nothing more, and give the job it runs back at once."""
        self.claiming = False
        running = self._running
        if running is not None:
            job_id, attempt, cancel = running
            cancel.set()
            with contextlib.suppress(Exception):
                await self.registry.hand_back.remote(job_id, attempt)
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._worker

    async def _work(self) -> None:
        while self.claiming:
            try:
                claim = await self.registry.claim.remote(self.replica, self.report(), CLAIM_WAIT_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the registry is restarting, or the cluster stopping
                logger.warning("Cannot reach the job registry: %s", exc)
                await asyncio.sleep(CLAIM_WAIT_SECONDS)
                continue
            if claim is not None and not self.claiming:  # it came as this replica began to drain
                await self.registry.hand_back.remote(claim[0], claim[1])
            elif claim is not None:
                await self._run(*claim)

    async def _run(self, job_id: str, attempt: int, name: str, options: TranscriptionOptions, phrases: tuple[str, ...],
                   audio_ref: list) -> None:
        cancel = threading.Event()
        self._running = (job_id, attempt, cancel)
        fraction = 0.0

        def progress(value: float) -> None:
            nonlocal fraction
            fraction = value

        async def reports() -> None:
            while True:
                keep = await self.registry.progress.remote(job_id, attempt, fraction, self.replica, self.report())
                if not keep:
                    cancel.set()  # cancelled by its client, or given to another replica
                    return
                await asyncio.sleep(REPORT_SECONDS)

        reporter = asyncio.create_task(reports())
        try:
            samples = np.array(await audio_ref[0], dtype=np.float32)  # a copy: the engine may write
            vocabulary, _ = with_request_phrases(self.link.model, RequestPhrases(tuple(phrases)))
            logger.info("Running job %s (attempt %d, %.1f s of audio)", job_id, attempt, len(samples) / 16000)
            ending, transcript, error = await run_on_engine(self.link, AudioInput(name, samples), vocabulary,
                                                            cancel, progress, options)
        except Exception as exc:  # its audio is gone from the object store: it cannot run anywhere
            logger.exception("Job %s could not be run", job_id)
            ending, transcript, error = Ending.FAILED, None, f"The job could not be run: {exc}"
        finally:
            reporter.cancel()
            self._running = None
        if not self.claiming:
            return  # handed back by drain()
        if ending is Ending.INTERRUPTED:  # this replica's engine stopped: it runs again elsewhere
            await self.registry.hand_back.remote(job_id, attempt)
            return
        await self.registry.finish.remote(job_id, attempt, ending.status.value, transcript, error)
