"""Tasks the executor tests send to worker processes (importable there: a top-level module
of the tests folder, which pytest puts on ``sys.path`` and spawned workers inherit)."""

from __future__ import annotations

import os
from pathlib import Path

from monitor.service.scoring_task import RawScoring, ScoringJob, score_raw


class KillOnce:
    """:func:`~monitor.service.scoring_task.score_raw`, except that the first task to run
    (no marker file yet) kills its own worker process mid-task, as a lost node would.

    Args:
        marker: The marker file (created by the task that kills its worker).
    """

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __call__(self, job: ScoringJob) -> RawScoring:
        try:
            with open(self.marker, "x", encoding="utf-8") as fh:  # only one task wins
                fh.write(f"{os.getpid()} {job.label}")
        except FileExistsError:
            return score_raw(job)
        os._exit(1)


def always_killed(marker: str) -> int:
    """Kills its worker process every time (a task no retry can save)."""
    Path(marker).write_text(str(os.getpid()), encoding="utf-8")
    os._exit(1)


def worker_pid(_: object) -> int:
    """The id of the worker process that runs the task."""
    return os.getpid()
