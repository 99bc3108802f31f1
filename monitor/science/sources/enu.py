"""East/north/up surface displacement record shared by every deformation source.

Conventions (docs/architecture.md): metres, x = east, y = north, up positive; every source returns
float32 components of one common shape (the broadcast shape of its coordinate arrays, for
a map grid ``(ny, nx)`` with row 0 at the north edge).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InputError


@dataclass(frozen=True, eq=False)
class ENU:
    """Three-component surface displacement, metres.

    Attributes:
        east: Eastward displacement, metres, float32, any shape (usually ``(ny, nx)``).
        north: Northward displacement, metres, float32, same shape as ``east``.
        up: Upward displacement, metres, float32, same shape as ``east``.

    Instances add (superposition of sources) and scale by a scalar (``2.0 * d``, ``-d``).
    """

    east: NDArray[np.float32]
    north: NDArray[np.float32]
    up: NDArray[np.float32]

    def __post_init__(self) -> None:
        shapes = {np.shape(self.east), np.shape(self.north), np.shape(self.up)}
        if len(shapes) != 1:
            raise InputError(
                "ENU components must share one shape, got east "
                f"{np.shape(self.east)}, north {np.shape(self.north)}, up {np.shape(self.up)}"
            )

    @classmethod
    def from_arrays(cls, east: ArrayLike, north: ArrayLike, up: ArrayLike) -> ENU:
        """Build a record from array-likes, broadcasting them and casting to float32."""
        e, n, u = np.broadcast_arrays(
            np.asarray(east, dtype=np.float32),
            np.asarray(north, dtype=np.float32),
            np.asarray(up, dtype=np.float32),
        )
        return cls(np.array(e), np.array(n), np.array(u))

    @classmethod
    def zeros(cls, shape: tuple[int, ...]) -> ENU:
        """A zero displacement field of ``shape``."""
        return cls(
            np.zeros(shape, np.float32), np.zeros(shape, np.float32), np.zeros(shape, np.float32)
        )

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of each component."""
        return tuple(np.shape(self.east))

    def __add__(self, other: ENU) -> ENU:
        if not isinstance(other, ENU):
            return NotImplemented
        return ENU.from_arrays(
            self.east + other.east, self.north + other.north, self.up + other.up
        )

    def __mul__(self, factor: float) -> ENU:
        if not isinstance(factor, int | float | np.floating | np.integer):
            return NotImplemented
        f = np.float32(factor)
        return ENU(self.east * f, self.north * f, self.up * f)

    __rmul__ = __mul__

    def __neg__(self) -> ENU:
        return self * -1.0
