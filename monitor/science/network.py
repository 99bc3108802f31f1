"""Networks of interferograms: epochs, date pairs, connectivity, segments and triangles.

An interferogram network is a graph whose nodes are acquisition epochs and whose edges are
the interferograms (date pairs). This module holds the graph logic that
:mod:`monitor.science.timeseries` needs and that does not touch pixel values: sorting the
pairs, the design matrix of the least-squares inversion, connected components (segments)
and the triangles whose loop closure can be checked.

Rules (also stated in :mod:`monitor.science.timeseries`):
    * Epochs are the sorted distinct dates of all pairs; pairs are stored as epoch indices
      ``(i, j)`` with ``i < j``, sorted by ``(i, j)``.
    * A *segment* is a connected component of the network. Segments are ordered by their
      first epoch; the first epoch of each segment is that segment's reference epoch.
    * A :class:`NetworkGap` separates two consecutive segments. Nothing is inferred across
      it unless the caller asks for an explicit bridge, which is then recorded on the gap.

Sources:
    Small-baseline (SBAS) networks and their inversion on epoch-to-epoch increments follow
    Berardino et al. (2002) as implemented in LiCSBAS (Morishita et al., 2020) and MintPy
    (Yunjun et al., 2019); LiCSAR pairs every epoch with its 3 nearest neighbours in time.
    Daisy-chain (consecutive pair) series follow Anantrasirichai et al. (2019b).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from monitor.errors import InputError

#: Bridge rules understood by :mod:`monitor.science.timeseries`.
BRIDGES = ("none", "zero-velocity")


@dataclass(frozen=True)
class NetworkGap:
    """A break in the network: no interferogram links the epochs on either side.

    Attributes:
        epochs_before: Epochs of the segment before the gap (ascending).
        epochs_after: Epochs of the segment after the gap (ascending).
        bridge: How the series was carried across: ``"none"`` (the later segment is not
            referred to the first epoch; its values are NaN in the cumulative displacement
            and kept relative to its own first epoch elsewhere) or ``"zero-velocity"``
            (explicitly assumed: no displacement between ``last_before`` and
            ``first_after``).
    """

    epochs_before: tuple[date, ...]
    epochs_after: tuple[date, ...]
    bridge: str = "none"

    @property
    def last_before(self) -> date:
        return self.epochs_before[-1]

    @property
    def first_after(self) -> date:
        return self.epochs_after[0]

    def describe(self) -> str:
        """One line saying where the network breaks and what was done about it."""
        return (f"network gap between {self.last_before.isoformat()} and "
                f"{self.first_after.isoformat()} (no interferogram links the "
                f"{len(self.epochs_before)} epochs before to the {len(self.epochs_after)} "
                f"after); bridge={self.bridge}")


@dataclass(frozen=True)
class PairNetwork:
    """The date pairs of a set of interferograms as a graph on epochs.

    Attributes:
        epochs: Sorted distinct acquisition dates, length ``n_epochs``.
        pairs: Interferograms as ``(i, j)`` epoch indices with ``i < j``, sorted, length
            ``n_pairs``; no duplicates.
    """

    epochs: tuple[date, ...]
    pairs: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        if not self.pairs:
            raise InputError("pairs: empty network; need at least one interferogram")
        if len(set(self.pairs)) != len(self.pairs):
            raise InputError("pairs: duplicate date pairs in the network")
        for i, j in self.pairs:
            if not 0 <= i < j < len(self.epochs):
                raise InputError(
                    f"pairs: ({i}, {j}) is not a pair of epoch indices i < j < "
                    f"{len(self.epochs)}"
                )

    @classmethod
    def from_dates(cls, date_pairs: list[tuple[date, date]]) -> PairNetwork:
        """Build the network from ``(date1, date2)`` pairs with ``date1 < date2``."""
        for d1, d2 in date_pairs:
            if not d1 < d2:
                raise InputError(
                    f"date pair ({d1}, {d2}): date1 must be strictly before date2"
                )
        epochs = tuple(sorted({d for pair in date_pairs for d in pair}))
        index = {d: k for k, d in enumerate(epochs)}
        pairs = tuple(sorted((index[d1], index[d2]) for d1, d2 in date_pairs))
        return cls(epochs, pairs)

    @property
    def n_epochs(self) -> int:
        return len(self.epochs)

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    @cached_property
    def first(self) -> NDArray[np.intp]:
        """Index of the first epoch of every pair, shape ``(n_pairs,)``."""
        return np.array([i for i, _ in self.pairs], dtype=np.intp)

    @cached_property
    def second(self) -> NDArray[np.intp]:
        """Index of the second epoch of every pair, shape ``(n_pairs,)``."""
        return np.array([j for _, j in self.pairs], dtype=np.intp)

    def date_pair(self, k: int) -> tuple[date, date]:
        i, j = self.pairs[k]
        return self.epochs[i], self.epochs[j]

    @property
    def is_daisy_chain(self) -> bool:
        """True when every pair joins consecutive epochs ``(k, k+1)``.

        A daisy chain may miss some consecutive pairs; each missing pair is a gap.
        """
        return all(j == i + 1 for i, j in self.pairs)

    def design_matrix(self) -> NDArray[np.float64]:
        """Observation matrix in epoch parameters, shape ``(n_pairs, n_epochs)``.

        Row ``k`` of pair ``(i, j)`` holds ``-1`` at column ``i`` and ``+1`` at ``j``: the
        interferogram measures ``d(t_j) - d(t_i)``. Fixing one epoch per segment to 0 and
        dropping its column gives the full-rank SBAS system (equivalent to solving for the
        epoch-to-epoch increments, as LiCSBAS and MintPy do).
        """
        a = np.zeros((self.n_pairs, self.n_epochs))
        rows = np.arange(self.n_pairs)
        a[rows, self.first] = -1.0
        a[rows, self.second] = 1.0
        return a

    def component_labels(self, valid: NDArray[np.bool_] | None = None) -> NDArray[np.intp]:
        """Connected-component label of every epoch, shape ``(n_epochs,)``.

        Args:
            valid: Optional mask of the pairs to use, shape ``(n_pairs,)``; epochs touched
                by no used pair form components of their own.

        Returns:
            Labels ``0..n_components-1`` numbered in order of each component's first epoch.
        """
        use = np.ones(self.n_pairs, bool) if valid is None else np.asarray(valid, bool)
        if use.shape != (self.n_pairs,):
            raise InputError(f"valid: expected shape ({self.n_pairs},), got {use.shape}")
        graph = coo_matrix(
            (np.ones(int(use.sum())), (self.first[use], self.second[use])),
            shape=(self.n_epochs, self.n_epochs),
        )
        _, raw = connected_components(graph, directed=False)
        # renumber by first appearance so that labels follow time
        _, first_seen = np.unique(raw, return_index=True)
        order = np.argsort(first_seen)
        remap = np.empty_like(order)
        remap[order] = np.arange(order.size)
        return remap[raw].astype(np.intp)

    @cached_property
    def segments(self) -> tuple[tuple[int, ...], ...]:
        """Connected components of the whole network as epoch indices, in time order."""
        labels = self.component_labels()
        return tuple(tuple(int(e) for e in np.flatnonzero(labels == s))
                     for s in range(int(labels.max()) + 1))

    def gaps(self, bridge: str = "none") -> tuple[NetworkGap, ...]:
        """One :class:`NetworkGap` between each pair of consecutive segments."""
        if bridge not in BRIDGES:
            raise InputError(f"bridge: expected one of {BRIDGES}, got {bridge!r}")
        segs = self.segments
        return tuple(
            NetworkGap(tuple(self.epochs[e] for e in segs[s]),
                       tuple(self.epochs[e] for e in segs[s + 1]), bridge)
            for s in range(len(segs) - 1)
        )

    @cached_property
    def triangles(self) -> NDArray[np.intp]:
        """Closed triangles of the network, shape ``(n_triangles, 3)``.

        Each row holds the pair indices ``(ij, jk, ik)`` of epochs ``i < j < k`` such that
        the three interferograms exist; their loop closure is
        ``ifg_ij + ifg_jk - ifg_ik`` (zero for consistent unwrapped phase).
        """
        index = {p: k for k, p in enumerate(self.pairs)}
        later: dict[int, list[int]] = {}
        for i, j in self.pairs:
            later.setdefault(i, []).append(j)
        rows = []
        for i, js in later.items():
            for j in js:
                for k in later.get(j, []):
                    ik = index.get((i, k))
                    if ik is not None:
                        rows.append((index[(i, j)], index[(j, k)], ik))
        return np.array(sorted(rows), dtype=np.intp).reshape(-1, 3)

    def triangle_dates(self) -> tuple[tuple[date, date, date], ...]:
        """The epochs ``(t_i, t_j, t_k)`` of every row of :attr:`triangles`."""
        out = []
        for ij, jk, _ in self.triangles:
            i, j = self.pairs[int(ij)]
            k = self.pairs[int(jk)][1]
            out.append((self.epochs[i], self.epochs[j], self.epochs[k]))
        return tuple(out)


def nearest_neighbour_pairs(epochs: list[date], n_neighbours: int = 3) -> list[tuple[date, date]]:
    """LiCSAR-style network: every epoch paired with its ``n_neighbours`` next epochs.

    Args:
        epochs: Acquisition dates (any order, distinct).
        n_neighbours: How many following epochs each epoch is paired with (LiCSAR uses 3).

    Returns:
        Date pairs ``(t_i, t_j)`` with ``0 < j - i <= n_neighbours`` in the sorted epochs;
        about ``n_neighbours * n_epochs`` pairs.
    """
    if n_neighbours < 1:
        raise InputError(f"n_neighbours: expected >= 1, got {n_neighbours}")
    ordered = sorted(epochs)
    if len(set(ordered)) != len(ordered):
        raise InputError("epochs: dates must be distinct")
    return [(ordered[i], ordered[j]) for i in range(len(ordered))
            for j in range(i + 1, min(i + n_neighbours, len(ordered) - 1) + 1)]
