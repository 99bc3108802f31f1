"""Coverage-guided fuzzing of the listing parser and the raster reader with atheris.

Each input must give a valid result or a typed ``MonitorError``; any other exception is
a crash: libFuzzer prints it, writes the input to ``<workdir>/crash-*`` and the script
exits non-zero. ``tests/faults/test_fuzz.py`` runs a few seconds of each target; a longer
run, e.g.::

    .venv/bin/python bench/fuzz_atheris.py listing --runs 200000 --max-time-s 600
    .venv/bin/python bench/fuzz_atheris.py raster --max-time-s 600 --workdir /tmp/fuzz

``raster`` writes each input to a file (``.tif``, or ``.npy`` when the first byte is
odd) and calls ``read_raster`` and ``validate_product``; ``listing`` decodes the input as
the HTTP client does (UTF-8, errors replaced) and calls ``parse_listing``. atheris ships
wheels for Linux x86_64 (``pip install atheris``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import atheris

from monitor.errors import MonitorError

# Coverage of the code under test only (instrumenting numpy and rasterio as well would
# cost half a minute at every start).
with atheris.instrument_imports(include=["monitor.archive.listing", "monitor.io.rasters",
                                         "monitor.archive.cache"]):
    import monitor.archive.cache as cache
    import monitor.archive.listing as listing
    import monitor.io.rasters as rasters

PAGE = "https://portal.example.org/frames/022/022D_04826_121209/interferograms/"


def listing_target(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    try:
        result = listing.parse_listing(text, PAGE, "application/xml" if data[:1] == b"<" else "")
    except MonitorError:
        return
    for entry in result.entries:
        if (not listing.NAME_RE.match(entry.name)
                or not entry.url.startswith(("http://", "https://"))
                or not urlsplit(entry.url).netloc):
            raise AssertionError(f"unsafe entry {entry!r} from {text[:200]!r}")


def raster_target(folder: Path) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        suffix = ".npy" if data[:1] and data[0] % 2 else ".tif"
        path = folder / f"input{suffix}"
        path.write_bytes(data[1:])
        with contextlib.suppress(MonitorError):
            rasters.read_raster(path, max_pixels=1_000_000)
        with contextlib.suppress(MonitorError):
            cache.validate_product(path, "unw", "https://portal.example.org/input")

    return run


def write_seeds(target: str, corpus: Path) -> None:
    """Valid inputs the fuzzer starts from (an Apache index, an Atom feed; a GeoTIFF and a
    ``.npy`` with their selector byte)."""
    corpus.mkdir(parents=True, exist_ok=True)
    if target == "listing":
        (corpus / "apache.html").write_text(
            '<html><body><a href="?C=N;O=D">Name</a><a href="../">Parent</a>'
            '<a href="20240106_20240118/">20240106_20240118/</a>'
            '<a href="20240118_20240130/">x</a></body></html>', encoding="utf-8")
        (corpus / "atom.xml").write_text(
            '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry>'
            '<link rel="enclosure" href="https://portal.example.org/a/b.geo.unw.tif"/>'
            '</entry></feed>', encoding="utf-8")
        return
    import io

    import numpy as np
    from rasterio.transform import from_origin

    tif = corpus.parent / "seed.tif"
    data = np.arange(64, dtype=np.float32).reshape(8, 8)
    rasters.write_raster(tif, data, crs="EPSG:4326",
                         transform=from_origin(120.0, 14.0, 0.001, 0.001))
    (corpus / "geotiff").write_bytes(b"\x00" + tif.read_bytes())
    buf = io.BytesIO()
    np.save(buf, data)
    (corpus / "npy").write_bytes(b"\x01" + buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("target", choices=["listing", "raster"])
    parser.add_argument("--runs", type=int, default=100_000, help="inputs to try")
    parser.add_argument("--max-time-s", type=int, default=60, help="time limit, seconds")
    parser.add_argument("--workdir", default=None, help="folder for inputs and crashes")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="fuzz-atheris-"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(workdir)
    target = listing_target if args.target == "listing" else raster_target(workdir)
    corpus = workdir / f"corpus-{args.target}"
    write_seeds(args.target, corpus)
    atheris.Setup([sys.argv[0], str(corpus), f"-runs={args.runs}",
                   f"-max_total_time={args.max_time_s}", f"-artifact_prefix={workdir}/",
                   "-print_final_stats=1"], target)
    atheris.Fuzz()  # exits the process: 0 when the runs are done without a crash
    return 0


if __name__ == "__main__":
    sys.exit(main())
