"""Where scoring tasks run: in the polling thread, in a pool of worker processes, or on a
Dask cluster (``[executor]``, issue 17; docs/scaling.md).

The watch's writers (one thread per target being polled) hand the pure tasks of
:mod:`monitor.service.scoring_task` to one :class:`Executor`; fetching, reading and every
write stay with the writer, so a lost worker loses no data. Three kinds:

* :class:`InlineExecutor` (``inline``, the default): the task runs in the writer's thread,
  as the watch always did.
* :class:`ProcessExecutor` (``process``): a :class:`concurrent.futures.ProcessPoolExecutor`
  of ``workers`` processes started with ``spawn`` (safe with torch's threads), each loading
  the model once from the file's bytes (its initializer) and using ``cores / workers``
  torch threads. A worker that dies breaks the pool (``BrokenProcessPool``): the pool is
  started again and the task submitted again, up to ``task_retries`` times.
* ``dask`` (:class:`monitor.service.dask_executor.DaskExecutor`): an existing Dask
  distributed cluster, reached at ``dask_scheduler`` when the daemon starts.

A task that raises gives its own exception back to the writer (a map that cannot be
scored: the product is quarantined as before). A task that cannot be run (its worker lost
more than ``task_retries`` times, no answer within ``task_timeout_s``, the cluster gone)
raises :class:`~monitor.errors.ExecutorError`: the product is recorded as failed and
retried at a later poll, never skipped.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Generic, TypeVar

from monitor.config import ExecutorSettings
from monitor.errors import ExecutorError, ExecutorTimeout, ModelError
from monitor.io.models import ScoringModel
from monitor.service.scoring_task import register_model

log = logging.getLogger(__name__)

A = TypeVar("A")
R = TypeVar("R")


class TaskHandle(ABC, Generic[R]):
    """A submitted task; :meth:`result` waits for it."""

    @abstractmethod
    def result(self) -> R:
        """The task's result, or the exception the task raised.

        Raises:
            ExecutorError: the task could not be run (worker lost after the retries).
            ExecutorTimeout: no result within ``task_timeout_s``.
        """


class Executor(ABC):
    """Runs the pure scoring tasks (module docstring).

    Attributes:
        kind: ``inline``, ``process`` or ``dask``.
        workers: Targets the daemon polls at once (one writer thread each).
    """

    kind: str = ""
    workers: int = 1

    @abstractmethod
    def submit(self, fn: Callable[[A], R], arg: A, *, name: str) -> TaskHandle[R]:
        """Start ``fn(arg)``; ``fn`` is a top-level function of the package and ``arg``
        a picklable record. ``name`` (``target T frame F epoch D``) names the task in
        logs, errors and the Dask dashboard."""

    def run(self, fn: Callable[[A], R], arg: A, *, name: str) -> R:
        """``submit(fn, arg).result()``."""
        return self.submit(fn, arg, name=name).result()

    @abstractmethod
    def close(self) -> None:
        """Release workers and connections (idempotent; a later :meth:`submit` opens them
        again)."""


class _Done(TaskHandle[R]):
    def __init__(self, fn: Callable[[A], R], arg: A) -> None:
        self._value: R | None = None
        self._error: BaseException | None = None
        try:
            self._value = fn(arg)
        except Exception as exc:  # noqa: BLE001 - handed back by result(), as a pool does
            self._error = exc

    def result(self) -> R:
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class InlineExecutor(Executor):
    """Runs each task in the calling (writer's) thread, at :meth:`submit`.

    Args:
        workers: Targets polled at once.
        model: The watch's model, registered for this process's tasks (the watch also
            registers it before each scoring).
    """

    kind = "inline"

    def __init__(self, workers: int = 1, model: ScoringModel | None = None) -> None:
        self.workers = max(1, int(workers))
        if model is not None:
            register_model(model)

    def submit(self, fn: Callable[[A], R], arg: A, *, name: str) -> TaskHandle[R]:
        return _Done(fn, arg)

    def close(self) -> None:
        """Nothing to release."""


#: How often a pool worker checks that the process that started it is still there, seconds.
ORPHAN_CHECK_S = 1.0


def _exit_when_orphaned(parent: int) -> None:
    """A pool worker's watch on its parent: when the daemon dies without closing the pool
    (SIGKILL, a crash), the worker is re-parented and exits within ``ORPHAN_CHECK_S``,
    instead of holding its memory (torch and the model, about 0.45 GB) for good."""
    while True:
        time.sleep(ORPHAN_CHECK_S)
        if os.getppid() != parent:
            os._exit(0)


def _start_worker(data: bytes, sha256: str, source: str, torch_threads: int) -> None:
    """Initializer of a pool worker: the daemon handles Ctrl-C and SIGTERM (a worker
    ignores SIGINT, whose group it shares), the worker ends when the daemon is gone, torch
    threads, the model loaded once."""
    import torch

    from monitor.service.scoring_task import load_model_once

    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True,
                     name="orphan-watch").start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(max(1, torch_threads))
    load_model_once(data, sha256, source)


def model_bytes(model: ScoringModel) -> bytes:
    """The bytes of the model's file, checked against the hash it was loaded with.

    Raises:
        ModelError: the file cannot be read, or has changed since it was loaded.
    """
    try:
        data = Path(model.path).read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model file {model.path!r} to ship it to the workers: "
                         f"{exc}") from exc
    import hashlib

    if hashlib.sha256(data).hexdigest() != model.sha256:
        raise ModelError(f"model file {model.path!r} has changed since it was loaded (its "
                         f"SHA-256 is no longer {model.sha256}); restart the daemon")
    return data


class _PoolHandle(TaskHandle[R]):
    def __init__(self, owner: ProcessExecutor, fn: Callable[[A], R], arg: A,
                 name: str) -> None:
        self._owner, self._fn, self._arg, self._name = owner, fn, arg, name
        self._lost = 0
        self._future, self._generation = owner._submit(fn, arg)

    def result(self) -> R:
        owner = self._owner
        while True:
            future = self._future
            if future is not None:
                done, _ = cf.wait([future], timeout=owner.timeout_s)
                if not done:
                    future.cancel()
                    raise ExecutorTimeout(
                        f"scoring {self._name}: no result from a worker process within "
                        f"{owner.timeout_s:g} s ([executor] task_timeout_s); the product is "
                        "retried at a later poll")
                if not future.cancelled() \
                        and not isinstance(future.exception(), BrokenProcessPool):
                    return future.result()  # the task's value, or its own exception
            self._lost += 1
            if self._lost > owner.retries:
                raise ExecutorError(
                    f"scoring {self._name}: the worker process running it was lost "
                    f"{self._lost} times ([executor] task_retries = {owner.retries}); the "
                    "product is retried at a later poll")
            log.warning("scoring %s: its worker process was lost; submitted again (%d of %d)",
                        self._name, self._lost, owner.retries)
            owner._restart(self._generation)
            self._future, self._generation = owner._submit(self._fn, self._arg)


class ProcessExecutor(Executor):
    """A pool of worker processes on this machine (module docstring).

    Args:
        model: The watch's model (its file's bytes go to each worker once).
        workers: Worker processes (and targets polled at once).
        retries: Resubmissions of a task whose worker was lost.
        timeout_s: Longest wait for one task, seconds.
        torch_threads: Torch threads of each worker (None: the machine's cores divided
            by ``workers``). CNN probabilities depend on it in their last float32 digits
            (how a convolution's sums are split between threads): a worker scores
            exactly as the daemon's own process when the two use as many threads.

    Raises:
        ModelError: the model's file cannot be read or has changed.
    """

    kind = "process"

    def __init__(self, model: ScoringModel, workers: int, retries: int = 2,
                 timeout_s: float = 600.0, torch_threads: int | None = None) -> None:
        self.workers = max(1, int(workers))
        self.retries, self.timeout_s = int(retries), float(timeout_s)
        threads = torch_threads or max(1, (os.cpu_count() or 1) // self.workers)
        self._initargs = (model_bytes(model), model.sha256, model.path, threads)
        self._lock = threading.Lock()
        self._pool: cf.ProcessPoolExecutor | None = None
        self._generation = 0

    def _current(self) -> tuple[cf.ProcessPoolExecutor, int]:
        with self._lock:
            if self._pool is None:
                self._pool = cf.ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker, initargs=self._initargs)
                self._generation += 1
            return self._pool, self._generation

    def _submit(self, fn: Callable[[A], R], arg: A) -> tuple[cf.Future[R] | None, int]:
        pool, generation = self._current()
        try:
            return pool.submit(fn, arg), generation
        except BrokenProcessPool:  # broken by another task's worker: result() restarts it
            return None, generation

    def _restart(self, generation: int) -> None:
        """Replace the pool of ``generation`` if it is still the current one (several
        writers see the same broken pool; it is started again once)."""
        with self._lock:
            if self._pool is None or self._generation != generation:
                return
            broken, self._pool = self._pool, None
        broken.shutdown(wait=False, cancel_futures=True)

    def submit(self, fn: Callable[[A], R], arg: A, *, name: str) -> TaskHandle[R]:
        return _PoolHandle(self, fn, arg, name)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def build_executor(settings: ExecutorSettings, model: ScoringModel) -> Executor:
    """The executor ``[executor]`` describes, started (a Dask cluster is reached now).

    Raises:
        ExecutorError: the Dask scheduler cannot be reached (the message names the
            address), or ``distributed`` is not installed.
        ModelError: the model's file cannot be read or has changed.
    """
    workers = settings.worker_count()
    if settings.kind == "inline":
        return InlineExecutor(workers, model)
    if settings.kind == "process":
        return ProcessExecutor(model, workers, settings.task_retries,
                               settings.task_timeout_s)
    try:
        from monitor.service.dask_executor import DaskExecutor
    except ImportError as exc:
        raise ExecutorError(f"[executor] kind = \"dask\" needs dask.distributed ({exc}); "
                            "install insar-monitor with dask[distributed]") from None
    t0 = time.perf_counter()
    executor = DaskExecutor(model, settings.dask_scheduler, workers,
                            retries=settings.task_retries, timeout_s=settings.task_timeout_s,
                            connect_timeout_s=settings.dask_connect_timeout_s)
    log.info("executor: Dask scheduler %s reached in %.1f s", settings.dask_scheduler,
             time.perf_counter() - t0)
    return executor
