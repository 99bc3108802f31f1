"""A tiny watch world for the fault suite's process tests, and the process that runs it.

The world: a synthetic LiCSAR-layout archive of two frames (``FRAME_UP``: a Mogi source
inflating at 0.6 m/yr from ``ONSET``, 8 epochs 12 days apart, 128 x 128 pixels, 1 mm
turbulence, seed 3, the scenario of ``tests/test_restart.py`` cut to 8 epochs; ``FRAME_QUIET``:
4 epochs, no deformation), two targets (``up`` raises WATCH and then WARNING, ``quiet``
raises nothing), two e-mail recipients per target, e-mail in the dry-run folder, no
metrics endpoint, no status page (no ports to collide) and no feeds (the feeds' schema
checks would double a short life's start).

The process: :func:`run_cli` is the body of a child started from a ``forkserver`` whose
server imported this module (and with it the CLI, the daemon, torch and rasterio) once,
so that a child is at work a few hundred milliseconds after its start instead of the five
seconds a fresh interpreter needs to import torch. The child runs the real command line
(``monitor.cli.main(["run", "--config", FILE])``, what ``python -m monitor run`` runs) with
its stdout and stderr in a log file; the test kills it with a real ``SIGKILL``.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import date
from multiprocessing import forkserver
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import monitor.figures.alert  # noqa: F401  (imported once in the fork server: quicklooks)
import monitor.service.daemon  # noqa: F401
from monitor.cli import main
from monitor.io.synth_archive import write_synthetic_archive
from monitor.science.synth_series import SeriesScenario
from monitor.store import make_engine, upgrade

ROOT = Path(__file__).resolve().parents[2]


def _preload_commands() -> None:
    """Import every command's module once, here in the fork server (``--help`` builds the
    whole parser), so that each forked daemon starts without importing them again."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main(["--help"])


_preload_commands()
FRAME_UP = "022D_04826_121209"
FRAME_QUIET = "087A_05000_131313"
ONSET = date(2024, 1, 24)
SCENARIO_UP = SeriesScenario(n_epochs=7, onset=ONSET, rate_m_per_yr=0.6,
                             turbulent_sigma_m=0.001, stratified_strength="none",
                             decorrelate=False)
SCENARIO_QUIET = SeriesScenario(n_epochs=3, onset=None, turbulent_sigma_m=0.001,
                                stratified_strength="none", decorrelate=False)
TARGETS = (("up", FRAME_UP, 120.0, 14.0), ("quiet", FRAME_QUIET, 121.0, 15.0))
RECIPIENTS = ("observatory@example.org", "duty@example.org")

#: Rows a run leaves, key columns only (not the ids: PostgreSQL spends a sequence value
#: on every ``INSERT .. ON CONFLICT DO NOTHING``, so a restart may leave gaps).
ROW_QUERIES = {
    "products": "SELECT target_id, frame, date1, date2, status, checksum FROM products "
                "ORDER BY target_id, frame, date1, date2",
    "epochs": "SELECT target_id, epoch, n_products, segment, cum_max_m FROM epochs "
              "ORDER BY target_id, epoch",
    "scores": "SELECT target_id, epoch, p_fused, lstt_p, p_fused_corrected, "
              "correction_method FROM scores ORDER BY target_id, epoch",
    "alerts": "SELECT target_id, epoch, kind, level FROM alerts "
              "ORDER BY target_id, epoch, kind",
    "deliveries": "SELECT a.target_id, a.epoch, a.kind, d.channel, d.recipient, d.status "
                  "FROM deliveries d JOIN alerts a ON a.id = d.alert_id "
                  "ORDER BY a.target_id, a.epoch, a.kind, d.channel, d.recipient",
}
#: Names a writer gives its temporary files (``monitor.io.atomic``: ``.NAME.XXXX.tmp``;
#: the cache: ``NAME.XXXX.part``; the dry-run sender: ``NAME.eml.part``; datasets:
#: ``*.partial*``).
TEMP_NAME = re.compile(r"(\.tmp$|\.part$|\.partial)")
#: The dry-run sender's log line for every message it wrote.
DRY_RUN_LINE = re.compile(r"dry-run e-mail to .* -> (\S+\.eml)\s*$")


def write_staging(root: Path) -> Path:
    """Both frames, written once per session; worlds copy them."""
    write_synthetic_archive(root, scenario=SCENARIO_UP, frame=FRAME_UP, volcano="synthetic",
                            size_px=128, centre_lonlat=(120.0, 14.0), seed=3)
    write_synthetic_archive(root, scenario=SCENARIO_QUIET, frame=FRAME_QUIET,
                            volcano="synthetic", size_px=128, centre_lonlat=(121.0, 15.0),
                            seed=4)
    return root


def config_text(tmp: Path, db_url: str, *, poll_interval_s: float = 10.0) -> str:
    """The world's configuration (TOML)."""
    recipients = ", ".join(f'"{r}"' for r in RECIPIENTS)
    targets = "".join(f"""
[[targets]]
id = "{tid}"
name = "Target {tid}"
lon = {lon}
lat = {lat}
radius_km = 1.5
archive = "local"
frames = ["{frame}"]
recipients = [{recipients}]
poll_interval_s = {poll_interval_s}
""" for tid, frame, lon, lat in TARGETS)
    return f"""
[database]
url = "{db_url}"
[watch]
series_dir = "{tmp}/series"
cache_dir = "{tmp}/cache"
quicklook_dir = "{tmp}/quicklooks"
jitter_s = 0
[alerts]
combine = "cnn"
raise_after = 2
[correction]
enabled = false
[science]
# The CNN: this scenario's alerts come from its single-map rule. On a 128-pixel frame
# (13 km, under one 20 km window) the block detector, the default, is not calibrated.
detector = "cnn"
[email]
mode = "dry-run"
outbox_dir = "{tmp}/outbox"
timeout_s = 1
[outbox]
# A daemon killed while sending leaves its delivery claimed this long: short, so that
# the kills (a life lasts a second or two) are followed by the re-send they cause.
claim_lease_s = 2
[metrics]
enabled = false
[status_page]
enabled = false
[feeds]
enabled = false
[archives.local]
kind = "local"
root = "{tmp}/archive"
{targets}"""


def write_world(tmp: Path, staging: Path, db_url: str, *, poll_interval_s: float = 10.0
                ) -> Path:
    """Copy the archive into ``tmp``, write the configuration, upgrade the database."""
    tmp.mkdir(parents=True, exist_ok=True)
    for _, frame, _, _ in TARGETS:
        shutil.copytree(staging / frame, tmp / "archive" / frame, dirs_exist_ok=True)
    cfg = tmp / "monitor.toml"
    cfg.write_text(config_text(tmp, db_url, poll_interval_s=poll_interval_s),
                   encoding="utf-8")
    upgrade(db_url)
    return cfg


def read_rows(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of :data:`ROW_QUERIES` (one short-lived connection)."""
    engine = make_engine(db_url, connect_timeout_s=5)
    try:
        with engine.connect() as conn:
            return {name: [tuple(r) for r in conn.execute(sa.text(q))]
                    for name, q in ROW_QUERIES.items()}
    finally:
        engine.dispose()


def backfill_done(rows: dict[str, list[tuple[Any, ...]]],
                  reference: dict[str, list[tuple[Any, ...]]]) -> bool:
    """Whether a world has got as far as the reference: every epoch scored, every alert
    raised and no delivery still waiting."""
    return (len(rows["scores"]) == len(reference["scores"])
            and len(rows["alerts"]) == len(reference["alerts"])
            and len(rows["deliveries"]) == len(reference["deliveries"])
            and all(d[-1] == "sent" for d in rows["deliveries"]))


#: Floats of the rows (scores, displacements) are compared to this.
FLOAT_TOLERANCE = 1e-6


def assert_rows_match(rows: dict[str, list[tuple[Any, ...]]],
                      expected: dict[str, list[tuple[Any, ...]]]) -> None:
    """The same rows, floats to :data:`FLOAT_TOLERANCE`, the rest as text (dates come back
    as strings from SQLite and as dates from PostgreSQL)."""
    for table, want in expected.items():
        got = rows[table]
        assert len(got) == len(want), (table, got, want)
        for g, w in zip(got, want, strict=True):
            for a, b in zip(g, w, strict=True):
                if isinstance(b, float) and a is not None:
                    assert abs(float(a) - b) <= FLOAT_TOLERANCE, (table, g, w)
                else:
                    assert str(a) == str(b), (table, g, w)


def orphan_temp_files(tmp: Path) -> list[str]:
    """Temporary files left anywhere under the world's data folders."""
    found = []
    for folder in ("series", "cache", "quicklooks", "outbox", "feeds"):
        base = tmp / folder
        if base.is_dir():
            found += [str(p.relative_to(tmp)) for p in base.rglob("*")
                      if p.is_file() and TEMP_NAME.search(p.name)]
    return sorted(found)


def message_ids(outbox: Path) -> dict[str, str]:
    """``Message-ID`` -> file name of every ``.eml`` in the dry-run folder."""
    out = {}
    for path in sorted(outbox.glob("*.eml")) if outbox.is_dir() else []:
        match = re.search(r"^Message-ID:\s*(\S+)", path.read_text(encoding="utf-8"),
                          re.MULTILINE | re.IGNORECASE)
        assert match is not None, f"{path} has no Message-ID"
        out[match.group(1)] = path.name
    return out


def dry_run_writes(logs: Sequence[Path]) -> Counter[str]:
    """How many times each ``.eml`` file was written, from the processes' logs (the dry-run
    folder keeps one file per ``Message-ID``, so a message written twice is one file)."""
    writes: Counter[str] = Counter()
    for log in logs:
        if log.is_file():
            for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
                match = DRY_RUN_LINE.search(line)
                if match:
                    writes[Path(match.group(1)).name] += 1
    return writes


# -- the processes -----------------------------------------------------------------------


def run_cli(argv: list[str], log_path: str) -> None:
    """Body of a child: ``monitor.cli.main(argv)`` with stdout and stderr in ``log_path``;
    the process exits with its status (``os._exit``: nothing of the parent's to clean)."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    try:
        import torch

        torch.set_num_threads(1)
        code = main(argv)
    except SystemExit as exc:  # --help, --version, argparse errors
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # a child must always report its exit
        print(f"child raised {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        code = 70
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code or 0))


def fork_server() -> ForkServerContext:
    """A ``forkserver`` context whose server has imported this module (and the watch).

    The server is started here, with this checkout and the tests folder on its
    ``PYTHONPATH`` and one BLAS/OpenMP thread: Python 3.11's fork server does not apply
    the parent's ``sys.path`` before it preloads, and would otherwise skip the preload
    silently (every child would then import torch itself).
    """
    ctx = multiprocessing.get_context("forkserver")
    assert isinstance(ctx, ForkServerContext)
    ctx.set_forkserver_preload([__name__])
    saved = dict(os.environ)
    tests = str(Path(__file__).resolve().parents[1])
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join((tests, env["PYTHONPATH"]))
    os.environ.update(env)
    try:
        forkserver.ensure_running()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    # Wait for the preload: the first child is served once the imports are done.
    warm = ctx.Process(target=run_cli, args=(["--version"], os.devnull))
    warm.start()
    warm.join(300)
    return ctx


def child_env() -> dict[str, str]:
    """Environment of a child interpreter: this checkout first, one BLAS/torch thread."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                MKL_NUM_THREADS="1")


def start_cli_process(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """``python -m monitor ARGV`` as a fresh interpreter, output in ``log_path``."""
    log = open(log_path, "ab")  # noqa: SIM115  (closed with the process by the caller)
    try:
        return subprocess.Popen([sys.executable, "-m", "monitor", *argv], cwd=ROOT,
                                env=child_env(), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    finally:
        log.close()
