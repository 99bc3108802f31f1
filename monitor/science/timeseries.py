"""Cumulative LOS displacement series from a network of unwrapped interferograms.

Input: unwrapped interferograms (:class:`Interferogram`: two dates, LOS displacement in
metres ``(ny, nx)`` float32 with NaN where incoherent, optional coherence 0-1). Output: a
:class:`CumulativeSeries` holding the displacement of every epoch relative to the first one,
``(n_epochs, ny, nx)`` metres float32, with the number of interferograms behind each value.

Steps and rules, in order:

1. **Ordering, reversed pairs, duplicates.** Interferograms are sorted by ``(date1, date2)``.
   A pair given as ``date2 < date1`` is turned round (``date1``/``date2`` swapped and the
   displacement negated) and listed in ``InputReport.reversed_pairs``. Two products with the
   same date pair are dropped as duplicates (listed in ``InputReport.dropped_duplicates``)
   when their arrays are identical (NaN equal to NaN), and refused with an
   :class:`~monitor.errors.InputError` naming the pair when they differ: the code cannot know
   which one is right. ``date1 == date2``, mismatched shapes, an empty list and an
   interferogram without a single valid pixel are refused too.
2. **Coherence mask** (seed 000): pixels with coherence ``<= coherence_threshold`` (default
   0.1) or NaN coherence become NaN. Incoherent pixels are never treated as zero.
3. **Reference region**: the median of each interferogram over the stable region (a boolean
   mask or a pair of slices) is subtracted; a region without a valid pixel in some
   interferogram is an error naming the pair.
4. **Inversion.** A daisy chain (every pair joins consecutive epochs) is summed. Any other
   network is solved per pixel by least squares in the epoch parameters with the segment's
   first epoch fixed to 0, which is the SBAS inversion on epoch-to-epoch increments of
   LiCSBAS and MintPy. Each pixel uses only the interferograms where it is valid. Pixels
   are grouped by their validity pattern and each group is solved with one
   pseudo-inverse, so the cost grows with the number of distinct patterns, not of pixels.
   **Per-pixel rule:** a value is computed only for the epochs that the pixel's own valid
   interferograms connect to the segment's first epoch; every other epoch is NaN. In a
   daisy chain this means a pixel that is incoherent in one interferogram is NaN from then
   on (the sum cannot be continued without inventing the missing step).
5. **Gaps** (:class:`~monitor.science.network.NetworkGap`). When the whole network falls
   apart (a missing pair), the epochs are split into segments (connected components, in time
   order). With ``bridge="none"`` (default) nothing is invented: ``displacement`` is NaN for
   every epoch after the first segment, and ``segment_displacement`` keeps each segment
   relative to its own first epoch. ``bridge="zero-velocity"`` explicitly assumes no
   motion across each gap (each later segment starts from the last value of the previous
   one); the gaps record the bridge and ``method`` says so.
6. **Loop closure**: for every triangle ``i < j < k`` of the network, the residual
   ``ifg_ij + ifg_jk - ifg_ik`` is reported as a per-triangle RMS and a per-pixel RMS.

``support`` counts, for each epoch ``t_e`` and pixel, the valid interferograms whose time
span overlaps ``(t_ref, t_e]``, ``t_ref`` being the segment's first epoch: in a daisy chain
exactly the number of interferograms summed. At ``t_ref`` itself it is the number of valid
interferograms that touch ``t_ref`` (0 where the pixel is NaN there). It refers to the
segment-relative value.

Incremental daisy chains: :func:`start_daisy_chain` / :func:`daisy_chain_state` and
:func:`append` keep only the last cumulative image (O(one image) work per new product).

Sources:
    seed 003 (cumulative daisy-chain series); seed 000 (coherence threshold 0.1);
    Berardino et al. (2002) SBAS; LiCSBAS (Morishita et al., 2020); MintPy (Yunjun et al.,
    2019).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InputError
from monitor.science.network import BRIDGES, NetworkGap, PairNetwork

DEFAULT_COHERENCE_THRESHOLD = 0.1
METHODS = ("auto", "daisy-chain", "sbas")
_PIXEL_CHUNK = 65_536
_BANDED_BYTES = 64 * 2**20  # working memory of one chunk of the banded path

Reference = NDArray[np.bool_] | tuple[slice, slice] | None


@dataclass(frozen=True)
class Interferogram:
    """One unwrapped interferogram.

    Attributes:
        date1: First acquisition date.
        date2: Second acquisition date (``date2 < date1`` is accepted and turned round).
        displacement_m: LOS displacement ``d(date2) - d(date1)``, metres, ``(ny, nx)``,
            float32, NaN where incoherent or unwrapped badly.
        coherence: Optional coherence ``(ny, nx)`` in 0-1.
    """

    date1: date
    date2: date
    displacement_m: NDArray[np.float32]
    coherence: NDArray[np.floating] | None = None

    def __post_init__(self) -> None:
        for name in ("date1", "date2"):
            value = getattr(self, name)
            if isinstance(value, datetime) or not isinstance(value, date):
                raise InputError(f"{name}: expected a datetime.date, got {value!r}")
        if self.date1 == self.date2:
            raise InputError(f"interferogram {self.label}: date1 equals date2")
        disp = np.asarray(self.displacement_m, dtype=np.float32)
        if disp.ndim != 2 or disp.size == 0:
            raise InputError(
                f"interferogram {self.label}: displacement_m must be a non-empty 2-D "
                f"(ny, nx) array, got shape {disp.shape}"
            )
        object.__setattr__(self, "displacement_m", disp)
        if self.coherence is not None:
            coh = np.asarray(self.coherence, dtype=np.float32)
            if coh.shape != disp.shape:
                raise InputError(
                    f"interferogram {self.label}: coherence shape {coh.shape} differs from "
                    f"displacement shape {disp.shape}"
                )
            object.__setattr__(self, "coherence", coh)

    @property
    def label(self) -> str:
        return f"{self.date1.isoformat()}_{self.date2.isoformat()}"


@dataclass(frozen=True)
class InputReport:
    """What was done to the input list before the inversion.

    Attributes:
        dropped_duplicates: Date pairs given more than once with identical data (one kept).
        reversed_pairs: Pairs given as ``(later, earlier)``; turned round and negated.
        reordered: True when the input was not already sorted by ``(date1, date2)``.
    """

    dropped_duplicates: tuple[tuple[date, date], ...] = ()
    reversed_pairs: tuple[tuple[date, date], ...] = ()
    reordered: bool = False


@dataclass(frozen=True)
class LoopClosure:
    """Loop-closure residuals ``ifg_ij + ifg_jk - ifg_ik`` of the network's triangles.

    Attributes:
        triangles: Epoch triples ``(t_i, t_j, t_k)``, length ``n_tri``.
        rms_m: RMS residual over the pixels valid in all three, metres, ``(n_tri,)``; NaN
            when no pixel is.
        n_pixels: Pixels entering each RMS, ``(n_tri,)``.
        pixel_rms_m: RMS over the valid triangles at each pixel, metres, ``(ny, nx)``
            float32; NaN where no triangle is valid.
    """

    triangles: tuple[tuple[date, date, date], ...]
    rms_m: NDArray[np.float64]
    n_pixels: NDArray[np.int64]
    pixel_rms_m: NDArray[np.float32]


@dataclass(frozen=True)
class CumulativeSeries:
    """Cumulative LOS displacement of every epoch (see the module docstring for the rules).

    Attributes:
        epochs: Acquisition dates, ascending, length ``n_epochs``.
        displacement: ``(n_epochs, ny, nx)`` metres float32 relative to ``epochs[0]``
            (0 there where valid); NaN where not determined (incoherent, unreachable, or
            after a gap with ``bridge="none"``).
        support: ``(n_epochs, ny, nx)`` int16, interferograms behind each segment-relative
            value (module docstring).
        pairs: Date pairs used, sorted, length ``n_pairs``.
        segments: Epochs of each connected segment, in time order (one when connected).
        gaps: One record per break between segments (empty when connected).
        segment_displacement: ``(n_epochs, ny, nx)`` metres float32, each epoch relative to
            its own segment's first epoch; None when there is a single segment.
        loop_closure: Triangle residuals, or None when the network has no triangle.
        reference_offsets_m: Median subtracted from each pair over the reference region,
            metres, ``(n_pairs,)``; zeros when no reference region was given.
        method: ``"daisy-chain"`` or ``"sbas"``, with ``"+bridge=zero-velocity"`` appended
            when segments were bridged.
        input_report: Sorting, reversed pairs and duplicates handled.
        coherence_threshold: Threshold applied (coherence <= threshold -> NaN).
        reference_mask: Reference region as a boolean ``(ny, nx)`` mask, or None.
    """

    epochs: tuple[date, ...]
    displacement: NDArray[np.float32]
    support: NDArray[np.int16]
    pairs: tuple[tuple[date, date], ...]
    segments: tuple[tuple[date, ...], ...]
    gaps: tuple[NetworkGap, ...]
    segment_displacement: NDArray[np.float32] | None
    loop_closure: LoopClosure | None
    reference_offsets_m: NDArray[np.float64]
    method: str
    input_report: InputReport
    coherence_threshold: float
    reference_mask: NDArray[np.bool_] | None


def reference_mask(reference: Reference, shape: tuple[int, int]) -> NDArray[np.bool_] | None:
    """Turn a reference region (bool mask or ``(row_slice, col_slice)``) into a mask.

    Args:
        reference: Boolean ``(ny, nx)`` mask, a pair of slices, or None.
        shape: Image shape ``(ny, nx)``.

    Returns:
        Boolean mask of ``shape`` with at least one True, or None.
    """
    if reference is None:
        return None
    if isinstance(reference, tuple):
        if len(reference) != 2 or not all(isinstance(s, slice) for s in reference):
            raise InputError(f"reference: expected (row_slice, col_slice), got {reference!r}")
        mask = np.zeros(shape, bool)
        mask[reference] = True
    else:
        mask = np.asarray(reference)
        if mask.dtype != np.bool_ or mask.shape != shape:
            raise InputError(
                f"reference: expected a boolean mask of shape {shape}, got dtype "
                f"{mask.dtype} shape {mask.shape}"
            )
    if not mask.any():
        raise InputError(f"reference: the region {reference!r} selects no pixel")
    return mask


def prepare_interferogram(
    ifg: Interferogram,
    ref_mask: NDArray[np.bool_] | None,
    coherence_threshold: float = DEFAULT_COHERENCE_THRESHOLD,
) -> tuple[NDArray[np.float32], float]:
    """Coherence-mask and reference one interferogram (steps 2-3 of the module rules).

    Returns:
        The displacement ``(ny, nx)`` metres float32 (a new array) and the median removed.
    """
    out = np.array(ifg.displacement_m, dtype=np.float32, copy=True)
    if ifg.coherence is not None:
        out[~(ifg.coherence > coherence_threshold)] = np.nan
    if not np.isfinite(out).any():
        raise InputError(
            f"interferogram {ifg.label}: no valid pixel (all NaN after masking coherence "
            f"<= {coherence_threshold})"
        )
    offset = 0.0
    if ref_mask is not None:
        if ref_mask.shape != out.shape:
            raise InputError(
                f"interferogram {ifg.label}: shape {out.shape} differs from the reference "
                f"mask shape {ref_mask.shape}"
            )
        values = out[ref_mask]
        values = values[np.isfinite(values)]
        if values.size == 0:
            raise InputError(
                f"interferogram {ifg.label}: the reference region has no valid pixel; choose "
                "a coherent stable region"
            )
        offset = float(np.median(values))
        out -= np.float32(offset)
    return out, offset


def _same(a: NDArray[np.floating] | None, b: NDArray[np.floating] | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(np.array_equal(a, b, equal_nan=True))


def normalise_interferograms(
    interferograms: Sequence[Interferogram],
) -> tuple[list[Interferogram], InputReport]:
    """Sort, turn round reversed pairs and drop identical duplicates (rule 1)."""
    if len(interferograms) == 0:
        raise InputError("interferograms: empty list; need at least one interferogram")
    shape = interferograms[0].displacement_m.shape
    reversed_pairs = []
    forward: list[Interferogram] = []
    for ifg in interferograms:
        if not isinstance(ifg, Interferogram):
            raise InputError(f"interferograms: expected Interferogram items, got {type(ifg)}")
        if ifg.displacement_m.shape != shape:
            raise InputError(
                f"interferogram {ifg.label}: shape {ifg.displacement_m.shape} differs from "
                f"the first interferogram's {shape}"
            )
        if ifg.date2 < ifg.date1:
            reversed_pairs.append((ifg.date1, ifg.date2))
            ifg = Interferogram(ifg.date2, ifg.date1, -ifg.displacement_m, ifg.coherence)
        forward.append(ifg)
    keys = [(i.date1, i.date2) for i in forward]
    order = sorted(range(len(forward)), key=lambda k: keys[k])
    kept: list[Interferogram] = []
    dropped = []
    for k in order:
        ifg = forward[k]
        if kept and (kept[-1].date1, kept[-1].date2) == keys[k]:
            prev = kept[-1]
            if _same(prev.displacement_m, ifg.displacement_m) and \
                    _same(prev.coherence, ifg.coherence):
                dropped.append(keys[k])
                continue
            raise InputError(
                f"interferogram {ifg.label}: given twice with different data; keep only the "
                "product you trust"
            )
        kept.append(ifg)
    report = InputReport(tuple(dropped), tuple(reversed_pairs), order != sorted(order))
    return kept, report


def _stack(
    ifgs: list[Interferogram], ref_mask: NDArray[np.bool_] | None, threshold: float
) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
    ny, nx = ifgs[0].displacement_m.shape
    stack = np.empty((len(ifgs), ny * nx), np.float32)
    offsets = np.zeros(len(ifgs))
    for k, ifg in enumerate(ifgs):
        image, offsets[k] = prepare_interferogram(ifg, ref_mask, threshold)
        stack[k] = image.ravel()
    return stack, offsets


def _daisy_chain(net: PairNetwork, stack: NDArray[np.float32]
                 ) -> tuple[NDArray[np.float32], NDArray[np.int16]]:
    """Sum consecutive pairs within each segment; NaN propagates (the per-pixel rule)."""
    npix = stack.shape[1]
    rel = np.full((net.n_epochs, npix), np.nan, np.float32)
    support = np.zeros((net.n_epochs, npix), np.int16)
    for seg in net.segments:
        first = seg[0]
        rows = [net.pairs.index((e, e + 1)) for e in seg[:-1]]
        cum = np.cumsum(stack[rows], axis=0, dtype=np.float64)
        ok0 = np.isfinite(stack[rows[0]])
        rel[first] = np.where(ok0, np.float32(0), np.float32(np.nan))
        support[first] = ok0
        rel[first + 1: seg[-1] + 1] = cum
        steps = np.arange(1, len(seg), dtype=np.int16)[:, None]
        support[first + 1: seg[-1] + 1] = np.where(np.isfinite(cum), steps, 0)
    return rel, support


def _banded_pixels(net: PairNetwork, stack: NDArray[np.float32]
                   ) -> tuple[NDArray[np.float32], NDArray[np.int16]]:
    """Per-pixel normal equations solved by a banded Cholesky vectorised over pixels.

    Used for pixels whose validity pattern is rare (the pattern groups would each need
    their own pseudo-inverse). Same least-squares solution and per-pixel rule as the
    grouped path; cost ``n_epochs * bandwidth**2`` per pixel.

    Args:
        stack: ``(n_pairs, n_pix)`` referenced interferograms, NaN invalid.

    Returns:
        Segment-relative displacement ``(n_epochs, n_pix)`` and support, as in ``_sbas``.
    """
    n, w = net.n_epochs, int((net.second - net.first).max())
    n_pix = stack.shape[1]
    valid = np.isfinite(stack)
    data = np.where(valid, stack, 0.0).astype(np.float64)
    # component of every epoch = smallest epoch index reachable (min-label propagation)
    lab = np.repeat(np.arange(n, dtype=np.int32)[:, None], n_pix, axis=1)
    sweep = list(enumerate(net.pairs))
    while True:
        before = lab.copy()
        for k, (i, j) in sweep + sweep[::-1]:
            m = np.where(valid[k], np.minimum(lab[i], lab[j]), n)
            np.minimum(lab[i], m, out=lab[i])
            np.minimum(lab[j], m, out=lab[j])
        if np.array_equal(before, lab):
            break
    refs = np.array([seg[0] for seg in net.segments])
    epoch = np.arange(n)[:, None]
    unknown = np.isin(lab, refs) & (lab != epoch)
    hist = np.zeros((n, n_pix), np.int32)
    band = np.zeros((n + w, w + 1, n_pix))
    band[n:, 0] = 1.0
    rhs = np.zeros((n + w, n_pix))
    for k, (i, j) in enumerate(net.pairs):
        v = valid[k]
        hist[i] += v
        band[i, 0] += v
        band[j, 0] += v
        band[i, j - i] -= v
        rhs[j] += data[k]
        rhs[i] -= data[k]
    fixed = ~unknown
    for e in range(n):  # fixed epochs (references, unreachable) decoupled: identity rows
        f = fixed[e]
        band[e, :, f] = 0.0
        band[e, 0, f] = 1.0
        rhs[e, f] = 0.0
        for o in range(1, min(w, e) + 1):
            band[e - o, o, f] = 0.0
    for k in range(n):  # banded Cholesky N = U^T U, U[k, k+o] stored in band[k, o]
        band[k, 0] = np.sqrt(band[k, 0])
        band[k, 1:] /= band[k, 0]
        u = band[k, 1:]
        for o1 in range(1, w + 1):
            band[k + o1, 0: w - o1 + 1] -= u[o1 - 1] * u[o1 - 1:]
    for k in range(n):  # U^T y = rhs
        rhs[k] /= band[k, 0]
        rhs[k + 1: k + w + 1] -= band[k, 1:] * rhs[k]
    for k in range(n - 1, -1, -1):  # U x = y
        rhs[k] = (rhs[k] - (band[k, 1:] * rhs[k + 1: k + w + 1]).sum(axis=0)) / band[k, 0]
    rel = np.where(unknown, rhs[:n], np.nan).astype(np.float32)
    support = np.zeros((n, n_pix), np.int16)
    for r in refs:
        in_comp = lab == r
        h = np.where(in_comp, hist, 0)
        before_e = np.cumsum(h, axis=0) - h
        support = np.where(in_comp & unknown, before_e, support).astype(np.int16)
        touched = hist[r] > 0
        rel[r] = np.where(touched, 0.0, np.nan)
        support[r] = np.where(touched, hist[r], 0)
    return rel, support


def _sbas(net: PairNetwork, stack: NDArray[np.float32], min_group: int | None = None
          ) -> tuple[NDArray[np.float32], NDArray[np.int16]]:
    """Per-pixel least squares (rule 4).

    Pixels are grouped by validity pattern. Groups of at least ``min_group`` pixels are
    solved with one pseudo-inverse each; the pixels of rarer patterns together by
    :func:`_banded_pixels`. Both give the same least-squares solution; ``min_group`` only
    trades speed (default: 256 for networks of bandwidth <= 8 epochs, else 16).
    """
    npix = stack.shape[1]
    bandwidth = int((net.second - net.first).max())
    if min_group is None:
        min_group = 256 if bandwidth <= 8 else 16
    rel = np.full((net.n_epochs, npix), np.nan, np.float32)
    support = np.zeros((net.n_epochs, npix), np.int16)
    valid = np.isfinite(stack)
    packed = np.ascontiguousarray(np.packbits(valid, axis=0).T)
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, inverse = np.unique(keys, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    sizes = np.bincount(inverse)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    design = net.design_matrix()
    refs = [seg[0] for seg in net.segments]
    rare = []
    for u in range(bounds.size - 1):
        pix = order[bounds[u]: bounds[u + 1]]
        pattern = valid[:, pix[0]]
        if not pattern.any():
            continue
        if pix.size < min_group:
            rare.append(pix)
            continue
        labels = net.component_labels(pattern)
        rows_all = np.flatnonzero(pattern)
        row_parts, col_parts = [], []
        for r in refs:
            in_comp = labels == labels[r]
            rows = rows_all[in_comp[net.first[rows_all]]]
            if rows.size == 0:  # the reference epoch itself is incoherent here
                continue
            cols = np.flatnonzero(in_comp)
            cols = cols[cols != r]
            row_parts.append(rows)
            col_parts.append(cols)
            support[r, pix] = int(np.count_nonzero(net.first[rows] == r))
            counts = (net.first[rows][:, None] < cols[None, :]).sum(axis=0)
            support[cols[:, None], pix[None, :]] = counts.astype(np.int16)[:, None]
            rel[r, pix] = 0.0
        if not row_parts:
            continue
        rows = np.concatenate(row_parts)
        cols = np.concatenate(col_parts)
        a = design[np.ix_(rows, cols)]
        solver = np.linalg.solve(a.T @ a, a.T).astype(np.float32)  # (n_cols, n_rows)
        for start in range(0, pix.size, _PIXEL_CHUNK):
            p = pix[start: start + _PIXEL_CHUNK]
            rel[cols[:, None], p[None, :]] = solver @ stack[np.ix_(rows, p)]
    if rare:
        pix_all = np.sort(np.concatenate(rare))
        chunk = max(64, int(_BANDED_BYTES // ((net.n_epochs + bandwidth) * (bandwidth + 1) * 8)))
        for start in range(0, pix_all.size, chunk):
            p = pix_all[start: start + chunk]
            rel[:, p], support[:, p] = _banded_pixels(net, stack[:, p])
    return rel, support


def _loop_closure(net: PairNetwork, stack: NDArray[np.float32], shape: tuple[int, int]
                  ) -> LoopClosure | None:
    tri = net.triangles
    if tri.shape[0] == 0:
        return None
    sq_sum = np.zeros(stack.shape[1], np.float64)
    count = np.zeros(stack.shape[1], np.int64)
    rms = np.full(tri.shape[0], np.nan)
    n_pix = np.zeros(tri.shape[0], np.int64)
    for t, (ij, jk, ik) in enumerate(tri):
        res = stack[ij].astype(np.float64) + stack[jk] - stack[ik]
        ok = np.isfinite(res)
        n_pix[t] = int(ok.sum())
        if n_pix[t]:
            sq = np.where(ok, res, 0.0) ** 2
            rms[t] = float(np.sqrt(sq.sum() / n_pix[t]))
            sq_sum += sq
            count += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        pixel = np.where(count > 0, np.sqrt(sq_sum / np.maximum(count, 1)), np.nan)
    return LoopClosure(net.triangle_dates(), rms, n_pix,
                       pixel.astype(np.float32).reshape(shape))


def _bridge(net: PairNetwork, rel: NDArray[np.float32], bridge: str) -> NDArray[np.float32]:
    segs = net.segments
    out = rel.copy()
    if bridge == "none":
        for seg in segs[1:]:
            out[list(seg)] = np.nan
        return out
    for prev, seg in zip(segs[:-1], segs[1:], strict=True):
        if prev[-1] > seg[0]:
            raise InputError(
                f"bridge={bridge!r}: segments interleave in time around "
                f"{net.epochs[seg[0]]}; only bridge='none' is possible"
            )
        out[list(seg)] = rel[list(seg)] + out[prev[-1]]
    return out


def cumulative_series(
    interferograms: Sequence[Interferogram],
    *,
    reference: Reference = None,
    coherence_threshold: float = DEFAULT_COHERENCE_THRESHOLD,
    method: str = "auto",
    bridge: str = "none",
    loop_closure: bool = True,
) -> CumulativeSeries:
    """Cumulative displacement of every epoch from a network of interferograms.

    Args:
        interferograms: The products, in any order (module rule 1).
        reference: Stable region whose median is removed from every interferogram: boolean
            ``(ny, nx)`` mask or ``(row_slice, col_slice)``; None to skip.
        coherence_threshold: Coherence at or below which a pixel is NaN (seed 000: 0.1).
        method: ``"auto"`` (daisy chain when every pair is consecutive, else SBAS),
            ``"daisy-chain"`` or ``"sbas"``.
        bridge: ``"none"`` or ``"zero-velocity"`` (module rule 5).
        loop_closure: Compute triangle residuals when the network has triangles.

    Returns:
        The :class:`CumulativeSeries`.

    Raises:
        InputError: empty list, mismatched shapes, equal dates, conflicting duplicates, an
            interferogram or reference region without valid pixels, an unknown method or
            bridge, or ``method="daisy-chain"`` on a network that is not one.
    """
    if method not in METHODS:
        raise InputError(f"method: expected one of {METHODS}, got {method!r}")
    if bridge not in BRIDGES:
        raise InputError(f"bridge: expected one of {BRIDGES}, got {bridge!r}")
    if not 0.0 <= coherence_threshold < 1.0:
        raise InputError(f"coherence_threshold: expected 0 <= value < 1, got "
                         f"{coherence_threshold!r}")
    ifgs, report = normalise_interferograms(interferograms)
    shape = ifgs[0].displacement_m.shape
    ny, nx = int(shape[0]), int(shape[1])
    mask = reference_mask(reference, (ny, nx))
    net = PairNetwork.from_dates([(i.date1, i.date2) for i in ifgs])
    if method == "daisy-chain" and not net.is_daisy_chain:
        raise InputError("method='daisy-chain': the network has non-consecutive pairs; "
                         "use method='sbas' or 'auto'")
    use_daisy = net.is_daisy_chain if method == "auto" else method == "daisy-chain"
    stack, offsets = _stack(ifgs, mask, coherence_threshold)
    rel, support = (_daisy_chain if use_daisy else _sbas)(net, stack)
    closure = _loop_closure(net, stack, (ny, nx)) if loop_closure else None
    del stack
    gaps = net.gaps(bridge)
    name = "daisy-chain" if use_daisy else "sbas"
    if gaps:
        displacement = _bridge(net, rel, bridge)
        segment_rel: NDArray[np.float32] | None = rel.reshape(-1, ny, nx)
        if bridge != "none":
            name += f"+bridge={bridge}"
    else:
        displacement, segment_rel = rel, None
    return CumulativeSeries(
        epochs=net.epochs,
        displacement=displacement.reshape(-1, ny, nx),
        support=support.reshape(-1, ny, nx),
        pairs=tuple(net.date_pair(k) for k in range(net.n_pairs)),
        segments=tuple(tuple(net.epochs[e] for e in seg) for seg in net.segments),
        gaps=gaps,
        segment_displacement=segment_rel,
        loop_closure=closure,
        reference_offsets_m=offsets,
        method=name,
        input_report=report,
        coherence_threshold=float(coherence_threshold),
        reference_mask=mask,
    )


@dataclass(frozen=True)
class DaisyChainState:
    """What an incremental daisy chain keeps between products (one image, not the history).

    Attributes:
        first_epoch: Epoch the cumulative displacement is relative to.
        last_epoch: Latest epoch summed; the next product must start here.
        n_epochs: Epochs so far, first included.
        cumulative_m: Displacement at ``last_epoch`` relative to ``first_epoch``, metres,
            ``(ny, nx)`` float64 (float64 so long chains do not drift); NaN where a step was
            missing (the per-pixel rule of the module).
        support: Interferograms summed at each pixel, ``(ny, nx)`` int16 (0 where NaN).
        reference_mask: Stable region removed from every product, or None.
        coherence_threshold: Coherence at or below which a pixel is NaN.
    """

    first_epoch: date
    last_epoch: date
    n_epochs: int
    cumulative_m: NDArray[np.float64]
    support: NDArray[np.int16]
    reference_mask: NDArray[np.bool_] | None
    coherence_threshold: float = DEFAULT_COHERENCE_THRESHOLD

    @property
    def image(self) -> NDArray[np.float32]:
        """The latest cumulative displacement as float32 metres ``(ny, nx)``."""
        return self.cumulative_m.astype(np.float32)


def start_daisy_chain(
    first_epoch: date,
    shape: tuple[int, int],
    *,
    reference: Reference = None,
    coherence_threshold: float = DEFAULT_COHERENCE_THRESHOLD,
) -> DaisyChainState:
    """An empty incremental daisy chain starting at ``first_epoch`` (zero everywhere)."""
    if isinstance(first_epoch, datetime) or not isinstance(first_epoch, date):
        raise InputError(f"first_epoch: expected a datetime.date, got {first_epoch!r}")
    ny, nx = (int(s) for s in shape)
    if ny < 1 or nx < 1:
        raise InputError(f"shape: expected a positive (ny, nx), got {shape!r}")
    return DaisyChainState(first_epoch, first_epoch, 1, np.zeros((ny, nx)),
                           np.zeros((ny, nx), np.int16), reference_mask(reference, (ny, nx)),
                           float(coherence_threshold))


def daisy_chain_state(series: CumulativeSeries) -> DaisyChainState:
    """The incremental state at the last epoch of a batch daisy-chain series."""
    if not series.method.startswith("daisy-chain"):
        raise InputError(f"series: method {series.method!r} is not a daisy chain")
    if series.gaps and series.gaps[0].bridge == "none":
        raise InputError(f"series: {series.gaps[-1].describe()}; restart the chain with "
                         "start_daisy_chain or bridge explicitly")
    last = series.displacement[-1].astype(np.float64)
    return DaisyChainState(series.epochs[0], series.epochs[-1], len(series.epochs), last,
                           np.where(np.isfinite(last), series.support[-1], 0).astype(np.int16),
                           series.reference_mask, series.coherence_threshold)


def append(state: DaisyChainState, ifg: Interferogram) -> DaisyChainState:
    """Add the next consecutive interferogram to a daisy chain in O(one image).

    Args:
        state: Current state.
        ifg: Product with ``date1 == state.last_epoch`` and ``date2`` later.

    Returns:
        The new state; its ``image`` is the cumulative displacement at ``ifg.date2``, equal
        to what :func:`cumulative_series` gives for the same products.

    Raises:
        InputError: the product does not continue the chain (a gap, or a pair already
            covered), has another shape, or has no valid pixel.
    """
    if ifg.date2 < ifg.date1:
        ifg = Interferogram(ifg.date2, ifg.date1, -ifg.displacement_m, ifg.coherence)
    if ifg.date1 != state.last_epoch:
        what = "leaves a gap after" if ifg.date1 > state.last_epoch else "goes back before"
        raise InputError(
            f"interferogram {ifg.label}: {what} the chain's last epoch "
            f"{state.last_epoch.isoformat()}; the next product must start there"
        )
    if ifg.displacement_m.shape != state.cumulative_m.shape:
        raise InputError(f"interferogram {ifg.label}: shape {ifg.displacement_m.shape} "
                         f"differs from the chain's {state.cumulative_m.shape}")
    image, _ = prepare_interferogram(ifg, state.reference_mask, state.coherence_threshold)
    cumulative = state.cumulative_m + image
    support = np.where(np.isfinite(cumulative), state.support + 1, 0).astype(np.int16)
    return DaisyChainState(state.first_epoch, ifg.date2, state.n_epochs + 1, cumulative,
                           support, state.reference_mask, state.coherence_threshold)


def synthetic_network(
    truth_m: ArrayLike, epochs: Sequence[date], pairs: Sequence[tuple[date, date]]
) -> list[Interferogram]:
    """Noise-free interferograms ``truth[j] - truth[i]`` of a known series (for tests).

    Args:
        truth_m: Displacement per epoch, ``(n_epochs, ny, nx)`` metres.
        epochs: Dates of ``truth_m``'s first axis.
        pairs: Date pairs to form.

    Returns:
        One :class:`Interferogram` per pair, without coherence.
    """
    truth = np.asarray(truth_m, dtype=np.float64)
    if truth.ndim != 3 or truth.shape[0] != len(epochs):
        raise InputError(f"truth_m: expected shape ({len(epochs)}, ny, nx), got {truth.shape}")
    index = {d: k for k, d in enumerate(epochs)}
    missing = [d for pair in pairs for d in pair if d not in index]
    if missing:
        raise InputError(f"pairs: dates {missing[:3]} are not in epochs")
    return [Interferogram(d1, d2, (truth[index[d2]] - truth[index[d1]]).astype(np.float32))
            for d1, d2 in pairs]
