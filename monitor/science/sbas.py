"""Least-squares (SBAS) inversion of a referenced interferogram stack, pixel by pixel.

:func:`solve` gives, for every pixel, the least-squares displacement of every epoch
relative to its segment's first epoch from the interferograms valid at that pixel: the
SBAS inversion on epoch-to-epoch increments of LiCSBAS and MintPy. It is the solver
behind :func:`monitor.science.timeseries.cumulative_series` for networks that are not a
daisy chain; the rules it follows (per-pixel validity, epochs unreachable from the
segment's first epoch left NaN, the ``support`` counts) are stated there.

Two paths give the same solution:

* **Pattern groups.** Pixels are grouped by their validity pattern (which interferograms
  are valid); each group large enough is solved with one pseudo-inverse, so the cost grows
  with the number of distinct patterns, not of pixels.
* **Banded Cholesky.** Pixels of rare patterns are solved together through their normal
  equations, whose matrix is banded (width: the network's largest epoch span), by a
  banded Cholesky factorisation vectorised over pixels.

Sources:
    Berardino et al. (2002) SBAS; LiCSBAS (Morishita et al., 2020); MintPy (Yunjun et al.,
    2019).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from monitor.science.network import PairNetwork

_PIXEL_CHUNK = 65_536
_BANDED_BYTES = 64 * 2**20  # working memory of one chunk of the banded path


def solve_banded(net: PairNetwork, stack: NDArray[np.float32]
                 ) -> tuple[NDArray[np.float32], NDArray[np.int16]]:
    """Per-pixel normal equations solved by a banded Cholesky vectorised over pixels.

    Used for pixels whose validity pattern is rare (the pattern groups would each need
    their own pseudo-inverse). Same least-squares solution and per-pixel rule as the
    grouped path; cost ``n_epochs * bandwidth**2`` per pixel.

    Args:
        net: The interferogram network.
        stack: ``(n_pairs, n_pix)`` referenced interferograms, NaN invalid.

    Returns:
        Segment-relative displacement ``(n_epochs, n_pix)`` and support, as in :func:`solve`.
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


def solve(net: PairNetwork, stack: NDArray[np.float32], min_group: int | None = None
          ) -> tuple[NDArray[np.float32], NDArray[np.int16]]:
    """Per-pixel least squares (rule 4 of :mod:`monitor.science.timeseries`).

    Args:
        net: The interferogram network (epochs, pairs, segments).
        stack: ``(n_pairs, n_pix)`` referenced interferograms, metres float32, NaN invalid,
            rows in the order of ``net.pairs``.
        min_group: Smallest pattern group solved by its own pseudo-inverse.

    Returns:
        Segment-relative displacement ``(n_epochs, n_pix)`` metres float32 (NaN where not
        determined) and support ``(n_epochs, n_pix)`` int16.

    Pixels are grouped by validity pattern. Groups of at least ``min_group`` pixels are
    solved with one pseudo-inverse each; the pixels of rarer patterns together by
    :func:`solve_banded`. Both give the same least-squares solution; ``min_group`` only
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
            rel[:, p], support[:, p] = solve_banded(net, stack[:, p])
    return rel, support
