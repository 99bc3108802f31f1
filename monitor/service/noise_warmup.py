"""A new series' GLS noise history from the archive's products before its start.

A target with a ``start`` date in a frame that the archive has covered for years would
otherwise wait :data:`~monitor.science.detect.series_gls.WARM_UP` increments (eight months
of Sentinel-1 at 12 days) before the series' GLS filter judges an epoch, and the network
would stand alone meanwhile (it flagged 13% of real quiet pairs of held-out years,
``docs/detection.md``). Those products are in the archive's listing already: up to
:data:`~monitor.science.detect.series_gls.BORROW` of them that chain back from the series'
first date (:func:`~monitor.science.detect.series_gls.chain_before`) are read on the
series' crop, referenced as the series' own increments are, and begin its history as
noise samples. The series does not hold them (they are not recorded as the target's
products, nor summed into its maps).

A product that cannot be used (broken, off the frame grid, too few valid pixels, or
failing in any other way: the series' own first product must not be set aside for it) is
left out and the next one back is tried; an archive that cannot be reached ends the
borrowing for this poll, and the history holds what was read. The history is saved with the
series' first state, so a series started again after a crash before that save borrows
again, and after it never again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from monitor.domain import ProductRef
from monitor.errors import ArchiveUnavailable
from monitor.io.raster_header import read_header
from monitor.ports import Archive
from monitor.science.detect.series_gls import BORROW, NoiseHistory, chain_before
from monitor.science.interferograms import Interferogram
from monitor.science.product_checks import displacement_problem
from monitor.science.timeseries import DaisyChainState, append, start_daisy_chain
from monitor.service.frame_state import SeriesGrid, on_grid


@dataclass(frozen=True)
class Borrowed:
    """What the borrowing gave.

    Attributes:
        history: The history, the borrowed increments first (oldest first).
        used: The pairs read, ``YYYY-MM-DD_YYYY-MM-DD``.
        left_out: The pairs tried and not used, each with why.
    """

    history: NoiseHistory
    used: list[str]
    left_out: list[str]


def _pair(ref: ProductRef) -> str:
    return f"{ref.date1}_{ref.date2}"


def borrow_noise(archive: Archive, earlier: list[ProductRef], first: date,
                 sgrid: SeriesGrid, chain: DaisyChainState, history: NoiseHistory, *,
                 cache_dir: Path, max_pixels: int, min_valid_fraction: float,
                 n: int = BORROW) -> Borrowed:
    """Begin ``history`` (empty, of the new series) with up to ``n`` products of
    ``earlier`` chaining back from ``first`` (module docstring).

    Args:
        archive: The target's archive.
        earlier: Listed products of the frame before the series' start.
        first: The series' first date.
        sgrid: The series grid (its crop of the frame).
        chain: The new series (its reference and coherence threshold).
        history: The series' empty history (its window).
        cache_dir, max_pixels, min_valid_fraction: As for the series' own products.
        n: Products to borrow at most.
    """
    used: list[str] = []
    left_out: list[str] = []
    candidates = list(earlier)
    incs: list[tuple[ProductRef, np.ndarray]] = []
    while len(incs) < n:
        wanted = chain_before(candidates, incs[0][0].date1 if incs else first, 1)
        if not wanted:
            break
        ref = wanted[0]
        candidates.remove(ref)
        try:
            fetched = archive.fetch(ref, cache_dir)
            header = read_header(fetched.unw_path)
            if not on_grid(header.shape, header.transform, sgrid.frame):
                left_out.append(f"{_pair(ref)}: not on the frame grid")
                continue
            decoded = archive.decode(fetched, max_pixels, window=sgrid.window)
            problem = displacement_problem(
                decoded.displacement_m, decoded.coherence,
                coherence_threshold=chain.coherence_threshold,
                min_valid_fraction=min_valid_fraction)
            if problem is not None:
                left_out.append(f"{_pair(ref)}: {problem}")
                continue
            start = start_daisy_chain(ref.date1, sgrid.grid.shape,
                                      reference=chain.reference_mask,
                                      coherence_threshold=chain.coherence_threshold)
            one = append(start, Interferogram(ref.date1, ref.date2, decoded.displacement_m,
                                              decoded.coherence))
        except ArchiveUnavailable as exc:  # the archive, not the product: stop here
            left_out.append(f"{_pair(ref)}: {exc} (borrowing stopped)")
            break
        except Exception as exc:  # noqa: BLE001 - never the series' product's failure
            left_out.append(f"{_pair(ref)}: {exc}")
            continue
        incs.insert(0, (ref, one.cumulative_m))
    for ref, inc in incs:
        history = history.appended(inc, None, ref.date2)
        used.append(_pair(ref))
    return Borrowed(history, used, left_out)
