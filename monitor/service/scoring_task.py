"""Scoring an epoch as a pure task: maps and parameters in, scores out (issue 17).

The watch's writer (the thread polling a target) reads everything an epoch's scoring needs
(the cumulative map, the newest increment, the regions, and, for a step that gets a second
look, the correction sources' delays and DEM:
:func:`~monitor.service.correction.read_source_inputs`) and hands it to an executor
(:mod:`monitor.service.executors`) as one of these tasks. A task opens no file, no archive,
no database and reads no clock, so it can run in the writer's thread, in a worker process
or on a Dask worker, and be run again when its worker is lost:

* :func:`score_raw` (:class:`ScoringJob` -> :class:`RawScoring`): rules 1-2 of
  :mod:`monitor.science.scoring` on the map (the block detector against the series' own
  threshold from the noise history before the epoch), what the time-series rule reads of it
  (:func:`~monitor.service.scoring.epoch_signal`) and the series' GLS filter's judgement
  of it with the noise history that goes on with the series
  (:mod:`monitor.science.detect.series_gls`).
* :func:`score_second_look` (:class:`LookJob` -> :class:`~monitor.science.scoring.SecondLook`):
  rule 3 with the sources read beforehand.

The writer decides between the two (:func:`~monitor.service.scoring.needs_second_look`) and
assembles the :class:`~monitor.science.scoring.EpochScore`, so the numbers are those of
:func:`~monitor.service.scoring.score_cumulative`.

**The model** is not part of a task: each process keeps the detectors it has loaded by
their SHA-256 (:func:`register_model`, :func:`loaded_model`). The writer's process
registers the model it loaded; a worker process loads it once when it starts (the process
pool's initializer, a Dask worker plugin) from the file's bytes shipped once.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.config import CorrectionSettings
from monitor.errors import ModelError
from monitor.io.models import ScoringModel, load_scoring_model_bytes
from monitor.science.detect.detector import Detector
from monitor.science.detect.series_gls import GlsConfirmation, NoiseHistory, confirm
from monitor.science.detect.series_gls import step as gls_step
from monitor.science.scoring import (
    MapScore,
    Regions,
    ScoringParams,
    SecondLook,
    score_map,
    second_look,
)
from monitor.service.correction import SourceInputs, input_source
from monitor.service.scoring import detector_for, epoch_signal

#: The detectors this process has loaded, by the SHA-256 of their file.
_MODELS: dict[str, ScoringModel] = {}
_MODELS_LOCK = threading.Lock()


def register_model(model: ScoringModel) -> None:
    """Keep ``model`` for the tasks of this process (by its SHA-256)."""
    with _MODELS_LOCK:
        _MODELS.setdefault(model.sha256, model)


def load_model_once(data: bytes, sha256: str, source: str) -> ScoringModel:
    """The model of ``sha256``, loaded from its file's bytes the first time (a worker).

    Raises:
        ModelError: the bytes are not a model file, or not the file of ``sha256``.
    """
    with _MODELS_LOCK:
        model = _MODELS.get(sha256)
    if model is not None:
        return model
    model = load_scoring_model_bytes(data, source)
    if model.sha256 != sha256:
        raise ModelError(f"model {source!r}: the bytes shipped to this worker hash to "
                         f"{model.sha256}, not {sha256}")
    register_model(model)
    return model


def loaded_model(sha256: str) -> ScoringModel:
    """The model of ``sha256`` loaded in this process.

    Raises:
        ModelError: this process has not loaded it (a worker started without the
            executor's initializer or plugin).
    """
    with _MODELS_LOCK:
        model = _MODELS.get(sha256)
    if model is None:
        raise ModelError(f"model {sha256[:12]} is not loaded in this process; scoring tasks "
                         "run where the executor loaded the watch's model "
                         "(monitor.service.executors)")
    return model


@dataclass(frozen=True, eq=False)
class ScoringJob:
    """What scoring one epoch needs, read by the writer.

    Attributes:
        model_sha256: The detector (loaded in the worker's process).
        image: Cumulative LOS displacement of the epoch, metres, ``(ny, nx)``, NaN =
            incoherent.
        increment: The newest interferogram as summed into the series, metres
            ``(ny, nx)`` (None when not at hand: the step is then not measured).
        regions: Target and references on the frame grid.
        epoch: The epoch (seeds the LSTT).
        params: The scoring parameters.
        label: ``target T frame F epoch D``, for task names and messages.
        noise: The series' GLS noise history (:mod:`monitor.science.detect.series_gls`;
            None: the series has no filter).
        height_m: Heights on the grid, metres (the filter's nuisance), or None.
    """

    model_sha256: str
    image: NDArray[np.float32]
    increment: NDArray[np.floating] | None
    regions: Regions
    epoch: date
    params: ScoringParams
    label: str
    noise: NoiseHistory | None = None
    height_m: NDArray[np.floating] | None = None


@dataclass(frozen=True, eq=False)
class RawScoring:
    """Rules 1-2 of one epoch and its signal.

    Attributes:
        raw: The map's scores.
        signal: :meth:`~monitor.science.series_signal.TargetSignal.record` of the epoch,
            with the GLS filter's judgement
            (:meth:`~monitor.science.detect.series_gls.GlsConfirmation.record`) when it
            made one.
        noise: The noise history to keep with the series after this epoch (the job's
            with the new increment; the job's own when the increment was not at hand).
    """

    raw: MapScore
    signal: dict[str, Any]
    noise: NoiseHistory | None = None


@dataclass(frozen=True, eq=False)
class LookJob:
    """What the second look of one epoch needs.

    Attributes:
        job: The epoch's scoring job.
        raw: Its raw scores (:func:`score_raw`).
        sources: The correction sources' inputs, in the order they are tried.
        correction: The ``[correction]`` settings.
    """

    job: ScoringJob
    raw: MapScore
    sources: tuple[SourceInputs, ...]
    correction: CorrectionSettings


def _detector(job: ScoringJob) -> Detector:
    return detector_for(loaded_model(job.model_sha256), job.params, job.regions.grid.pixel_m,
                        job.height_m)


def score_raw(job: ScoringJob) -> RawScoring:
    """Rules 1-2 (:func:`~monitor.science.scoring.score_map`) and the epoch's signal.

    Raises:
        InputError: the map is not on the regions' grid, or holds no finite pixel.
        ModelError: the job's model is not loaded in this process.
    """
    raw = score_map(_detector(job), job.image, job.regions, job.epoch, job.params,
                    job.increment, None if job.noise is None else job.noise.before(job.epoch))
    signal = epoch_signal(job.image, job.increment, job.regions, job.epoch, job.params)
    noise, judged = _gls(job)
    record = signal.record()
    if judged is not None:
        record.update(judged.record())
    return RawScoring(raw, record, noise)


def _gls(job: ScoringJob) -> tuple[NoiseHistory | None, GlsConfirmation | None]:
    """The series' GLS filter on the epoch's map: with the new increment, the history
    grows by it; without, or when the history already holds the epoch (an epoch scored
    again), the epoch is judged from the history before it and the history stays as it
    is."""
    if job.noise is None:
        return None, None
    pixel_m = job.regions.grid.pixel_m
    if job.increment is None or job.noise.holds(job.epoch):
        judged = confirm(job.noise.before(job.epoch), job.image, pixel_m, job.height_m)[1]
        return job.noise, judged
    return gls_step(job.noise, job.image, job.increment, pixel_m, job.height_m, job.epoch)


def score_second_look(look: LookJob) -> SecondLook:
    """Rule 3 (:func:`~monitor.science.scoring.second_look`) with the sources read
    beforehand (:func:`~monitor.service.correction.input_source`)."""
    job = look.job
    sources = [(s.method, input_source(s, job.regions, look.correction,
                                       job.params.flag_threshold)) for s in look.sources]
    return second_look(_detector(job), job.image, look.raw, job.regions, job.epoch,
                       job.params, sources)


def worker_ready(sha256: str) -> int:
    """A task that checks that its worker has the model of ``sha256`` loaded; returns the
    worker's process id (to start every worker of an executor and see them answer).

    Raises:
        ModelError: the model is not loaded there.
    """
    loaded_model(sha256)
    return os.getpid()
