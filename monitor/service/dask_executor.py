"""The ``dask`` executor: scoring tasks on an existing Dask distributed cluster
(:mod:`monitor.service.executors`; docs/scaling.md for a SLURM or PBS cluster through
dask-jobqueue).

The daemon connects a :class:`distributed.Client` to ``[executor] dask_scheduler`` when it
starts (an unreachable scheduler is an :class:`~monitor.errors.ExecutorError` naming the
address) and registers a worker plugin holding the model file's bytes: the scheduler
gives it to every worker, also to those that join or restart later, and each loads the
model once (:func:`~monitor.service.scoring_task.load_model_once`). Tasks are submitted
with ``pure=False``, a key naming the target, frame and epoch, and ``retries =
task_retries``; a worker lost while running one is replaced by the scheduler, which runs
the task again elsewhere (up to its ``distributed.scheduler.allowed-failures``, then
``KilledWorker``). Workers need the same insar-monitor version installed.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from distributed import Client, Future, WorkerPlugin
from distributed.scheduler import KilledWorker

from monitor.errors import ExecutorError, ExecutorTimeout
from monitor.io.models import ScoringModel
from monitor.service.executors import Executor, TaskHandle, model_bytes

A = TypeVar("A")
R = TypeVar("R")


class ModelPlugin(WorkerPlugin):
    """Loads the watch's model on every worker once (from the file's bytes).

    Args:
        data: The model file's bytes.
        sha256: Its hash (the key of the worker's model cache).
        source: The file's path on the daemon's machine (named in errors).
    """

    def __init__(self, data: bytes, sha256: str, source: str) -> None:
        self.data, self.sha256, self.source = data, sha256, source

    def setup(self, worker: Any) -> None:
        """Load the model into the worker process's cache."""
        from monitor.service.scoring_task import load_model_once

        load_model_once(self.data, self.sha256, self.source)


class _DaskHandle(TaskHandle[R]):
    def __init__(self, future: Future, name: str, address: str, timeout_s: float) -> None:
        self._future, self._name = future, name
        self._address, self._timeout_s = address, timeout_s

    def result(self) -> R:
        future = self._future
        try:
            return future.result(timeout=self._timeout_s)
        except TimeoutError:
            if future.done():
                raise  # the task's own
            future.cancel()
            raise ExecutorTimeout(
                f"scoring {self._name}: no result from the Dask cluster at {self._address} "
                f"within {self._timeout_s:g} s ([executor] task_timeout_s); the product is "
                "retried at a later poll") from None
        except Exception as exc:
            if future.status == "error" and not isinstance(exc, KilledWorker):
                raise  # the task's own exception
            raise ExecutorError(
                f"scoring {self._name}: the task could not be run on the Dask cluster at "
                f"{self._address} (status {future.status}: {type(exc).__name__}: {exc}); the "
                "product is retried at a later poll") from exc


class DaskExecutor(Executor):
    """Scoring on a Dask cluster (module docstring).

    Args:
        model: The watch's model.
        address: The scheduler (``tcp://host:8786``).
        workers: Targets the daemon polls at once.
        retries: ``retries`` of each task.
        timeout_s: Longest wait for one task, seconds.
        connect_timeout_s: Longest wait for the scheduler at start, seconds.

    Raises:
        ExecutorError: the scheduler cannot be reached.
        ModelError: the model's file cannot be read or has changed.
    """

    kind = "dask"

    def __init__(self, model: ScoringModel, address: str, workers: int, *, retries: int = 2,
                 timeout_s: float = 600.0, connect_timeout_s: float = 10.0) -> None:
        self.address, self.workers = address, max(1, int(workers))
        self.retries, self.timeout_s = int(retries), float(timeout_s)
        self.connect_timeout_s = float(connect_timeout_s)
        self._plugin = ModelPlugin(model_bytes(model), model.sha256, model.path)
        self._client: Client | None = None
        self._connect()

    def _connect(self) -> Client:
        if self._client is None:
            try:
                client = Client(self.address, timeout=self.connect_timeout_s,
                                set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise ExecutorError(
                    f"cannot reach the Dask scheduler at {self.address} ([executor] "
                    f"dask_scheduler) within {self.connect_timeout_s:g} s: {exc}; start "
                    "the cluster (dask scheduler, or a dask-jobqueue cluster) or correct "
                    "the address") from None
            client.register_plugin(self._plugin,
                                   name=f"insar-monitor-model-{self._plugin.sha256[:16]}")
            self._client = client
        return self._client

    @property
    def client(self) -> Client:
        """The connected client."""
        return self._connect()

    def submit(self, fn: Callable[[A], R], arg: A, *, name: str) -> TaskHandle[R]:
        task = getattr(fn, "__name__", type(fn).__name__)
        key = "-".join((task, re.sub(r"[^A-Za-z0-9_.]+", "_", name), uuid.uuid4().hex[:8]))
        future = self.client.submit(fn, arg, key=key, pure=False, retries=self.retries)
        return _DaskHandle(future, name, self.address, self.timeout_s)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
