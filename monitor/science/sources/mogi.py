"""Mogi (1958) point pressure source in an elastic half-space.

Source: Mogi, K. (1958), Relations between the eruptions of various volcanoes and the
deformations of the ground surfaces around them, Bull. Earthq. Res. Inst. 36, 99-134, in
the volume-change form used in volcano geodesy (e.g. Segall 2010, eq. 7.14; Anantrasirichai
et al. (2019a, section 3.1) draw depth 1-10 km and volume change 1e5-1e7 m^3)::

    u_r = (1 - nu) / pi * dV * r / R^3
    u_z = (1 - nu) / pi * dV * d / R^3,      R = sqrt(r^2 + d^2)

where ``dV`` is the volume change of the (small) chamber, ``d`` its depth and ``r`` the
horizontal distance. The surface uplift volume is ``2 (1 - nu) dV``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from monitor.science.sources._checks import coordinates, finite, poisson, positive
from monitor.science.sources.enu import ENU


def mogi(
    x_m: ArrayLike,
    y_m: ArrayLike,
    *,
    xs_m: float = 0.0,
    ys_m: float = 0.0,
    depth_m: float,
    dvolume_m3: float,
    nu: float = 0.25,
) -> ENU:
    """Surface displacement of a Mogi point source (volume-change form).

    Args:
        x_m: East coordinates of the surface points, metres, any shape broadcastable with
            ``y_m`` (e.g. ``(ny, nx)`` from ``np.meshgrid``).
        y_m: North coordinates, metres.
        xs_m: East coordinate of the source, metres.
        ys_m: North coordinate of the source, metres.
        depth_m: Source depth below the surface, metres, > 0.
        dvolume_m3: Chamber volume change, m^3 (positive = inflation).
        nu: Poisson's ratio, in (0, 0.5).

    Returns:
        ENU displacement in metres (float32) with the broadcast shape of ``x_m``, ``y_m``.

    Raises:
        InputError: if the depth is not > 0, ``nu`` is outside (0, 0.5) or a value is not
            finite.
    """
    d = positive("depth_m", depth_m, "metres")
    dv = finite("dvolume_m3", dvolume_m3)
    nu = poisson(nu)
    x, y = coordinates(x_m, y_m)
    dx = x - finite("xs_m", xs_m)
    dy = y - finite("ys_m", ys_m)
    inv_r3 = (dx * dx + dy * dy + d * d) ** -1.5
    c = (1.0 - nu) / math.pi * dv * inv_r3
    return ENU(
        (c * dx).astype(np.float32), (c * dy).astype(np.float32), (c * d).astype(np.float32)
    )
