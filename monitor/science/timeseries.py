"""Cumulative LOS displacement series from a network of unwrapped interferograms.

Input: unwrapped interferograms (:class:`Interferogram`: two dates, LOS displacement in
metres ``(ny, nx)`` float32 with NaN where incoherent, optional coherence 0-1). Output: a
:class:`CumulativeSeries` holding the displacement of every epoch relative to the first one,
``(n_epochs, ny, nx)`` metres float32, with the number of interferograms behind each value.

Steps and rules, in order:

1. **Ordering, reversed pairs, duplicates**: sorted by date pair, reversed pairs turned
   round, identical duplicates dropped and conflicting ones refused.
2. **Coherence mask** (as in the Taal application of Sugiyama et al. 2011): coherence
   ``<= coherence_threshold`` (default 0.1) becomes NaN; incoherent pixels are never
   treated as zero.
3. **Reference region**: its median is removed from each interferogram.

   Steps 1-3 are done, and their rules stated in full, in
   :mod:`monitor.science.interferograms`.
4. **Inversion.** A daisy chain (every pair joins consecutive epochs) is summed. Any other
   network is solved per pixel by least squares in the epoch parameters with the segment's
   first epoch fixed to 0, which is the SBAS inversion on epoch-to-epoch increments of
   LiCSBAS and MintPy. Each pixel uses only the interferograms where it is valid. The
   solvers (validity-pattern groups, banded Cholesky) are in :mod:`monitor.science.sbas`.
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
    Anantrasirichai et al. (2019b) (cumulative daisy-chain series); the Taal application of
    Sugiyama et al. (2011) (coherence threshold 0.1);
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
from monitor.science import sbas
from monitor.science.interferograms import (
    DEFAULT_COHERENCE_THRESHOLD,
    InputReport,
    Interferogram,
    Reference,
    normalise_interferograms,
    prepare_interferogram,
    reference_mask,
)
from monitor.science.network import BRIDGES, NetworkGap, PairNetwork

# The input records and steps 1-3 live in monitor.science.interferograms; they stay
# importable from here, where the series API is.
__all__ = [
    "DEFAULT_COHERENCE_THRESHOLD", "METHODS", "CumulativeSeries", "DaisyChainState",
    "InputReport", "Interferogram", "LoopClosure", "Reference", "append", "cumulative_series",
    "daisy_chain_state", "normalise_interferograms", "prepare_interferogram",
    "reference_mask", "start_daisy_chain", "synthetic_network",
]

METHODS = ("auto", "daisy-chain", "sbas")


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
        coherence_threshold: Coherence at or below which a pixel is NaN (0.1, as in the
            Taal application of Sugiyama et al. 2011).
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
    rel, support = (_daisy_chain if use_daisy else sbas.solve)(net, stack)
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
    return append_step(state, ifg)[0]


def append_step(state: DaisyChainState, ifg: Interferogram
                ) -> tuple[DaisyChainState, NDArray[np.float32]]:
    """:func:`append`, and the interferogram as the chain summed it: coherence-masked and
    referenced (:func:`~monitor.science.interferograms.prepare_interferogram`), valid
    wherever the product is coherent, also where the chain lost a pixel earlier (the
    difference of the cumulative maps is NaN there).

    Raises:
        InputError: as :func:`append`.
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
                           support, state.reference_mask, state.coherence_threshold), image


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
