"""A pair of simulated single-look complex scenes with a known truth (ALOS-2-like).

The simulator builds what the interferometry must undo, from physical quantities:

* **Orbits**: a circular orbit of ``altitude_m`` (ALOS-2: 628 km, inclination 97.9 deg)
  propagated in an inertial frame and rotated into ECEF (WGS84 rotation rate), sampled as
  state vectors every 60 s like the leader's platform position record; the orbit is placed
  (Newton on its node and phase) so that the scene centre is seen at zero Doppler under
  ``incidence_deg``, right- (or left-) looking, ascending or descending. The secondary
  orbit is the same orbit moved by a constant baseline perpendicular to the line of sight
  (``perpendicular_baseline_m``), so its flat-earth and topographic phase are those of a
  real repeat pass. An optional ``orbit_error_m`` moves the *true* secondary orbit
  (used for the phase) away from the *stored* one, leaving an orbital ramp.
* **Ground**: every primary pixel is geolocated on the terrain (a given :class:`GeoDem`
  or a synthetic cone) with :func:`~monitor.science.sar.geolocation.geolocate`.
* **Signal**: band-limited circular complex Gaussian speckle (a rectangular spectrum
  filling ``bandwidth_fraction`` of the sampling rate on both axes, zero Doppler
  centroid), shared by the two scenes with weight ``sqrt(coherence)``, plus independent
  band-limited noise of weight ``sqrt(1 - coherence)`` (so the expected coherence is
  ``coherence``). The secondary, on the primary's grid, is the shared field times
  ``exp(-j 4 pi / lambda (R2 - d - R1))`` (``R1``, ``R2`` the two slant ranges of the ground
  point, ``d`` its displacement towards the satellite between the dates), which gives
  the interferogram ``primary * conj(secondary)`` the phase
  ``-4 pi / lambda (R1 - R2) - 4 pi d / lambda``: the SLC convention
  ``s = a exp(-j 4 pi R / lambda)`` of ISCE and GAMMA, and the LiCSAR sign (a range
  increase is a positive phase).
* **Offset**: the secondary image is that field shifted by ``offset_px`` (line, pixel)
  with the Fourier shift theorem (exact for band-limited data; the field is simulated on
  a padded grid so that the shift's wrap-around falls outside the crop). A primary pixel
  ``(l, p)`` is secondary pixel ``(l + dl, p + dp)``; the secondary's timing and first
  range are set so that the orbits predict this offset at the scene centre (the baseline
  makes the true geometric offset vary by a small fraction of a pixel across a crop of a
  few hundred pixels; the simulated images keep the constant offset).
* **Deformation**: a Mogi (1958) point source below ``source_offset_m`` (east, north
  of the scene centre), projected on each pixel's exact line of sight.

The scenes carry lon/lat polynomials of degree 3 fitted to the geolocation on the
ellipsoid (height 0) over the full scene, as a leader's facility record does.
Geometric decorrelation (the spectral shift of the baseline, small at L-band for a few
hundred metres) and amplitude texture are not simulated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import scipy.fft as sfft
from affine import Affine
from numpy.typing import NDArray
from scipy import ndimage, optimize

from monitor.errors import InputError
from monitor.science.sar.ellipsoid import (
    EARTH_ROTATION_RAD_S,
    ecef_to_geodetic,
    enu_basis,
    geodetic_to_ecef,
)
from monitor.science.sar.geolocation import GeoDem, geolocate
from monitor.science.sar.orbit import Orbit, zero_doppler_time
from monitor.science.sar.polynomial import fit_lonlat_polynomials
from monitor.science.sar.scene import SlcGeometry, SlcScene, StateVectors
from monitor.science.sources import mogi

#: Earth's gravitational constant GM (WGS84), m^3 s^-2.
GM_M3_S2 = 3.986004418e14
#: ALOS-2's orbit: mean altitude (m) and inclination (degrees).
ALOS2_ALTITUDE_M = 628e3
ALOS2_INCLINATION_DEG = 97.9
_N_VECTORS = 15
_VECTOR_INTERVAL_S = 60.0


@dataclass(frozen=True)
class _Kepler:
    """A circular orbit: radius, inclination, node, phase at t = 0, and a baseline offset."""

    radius_m: float
    inclination_rad: float
    raan_rad: float
    u0_rad: float
    cross_m: float = 0.0
    radial_m: float = 0.0

    def state(self, t_s: NDArray[np.float64]) -> tuple[NDArray[np.float64],
                                                        NDArray[np.float64]]:
        """ECEF positions and velocities at ``t_s`` (seconds; ECEF = inertial at t = 0)."""
        t = np.asarray(t_s, dtype=np.float64)
        n = math.sqrt(GM_M3_S2 / self.radius_m ** 3)
        u = self.u0_rad + n * t
        ci, si = math.cos(self.inclination_rad), math.sin(self.inclination_rad)
        co, so = math.cos(self.raan_rad), math.sin(self.raan_rad)
        rot = np.array([[co, -so * ci, so * si], [so, co * ci, -co * si], [0.0, si, ci]])
        r_hat = np.stack([np.cos(u), np.sin(u), np.zeros_like(u)], -1) @ rot.T
        t_hat = np.stack([-np.sin(u), np.cos(u), np.zeros_like(u)], -1) @ rot.T
        normal = rot[:, 2]
        r_eci = (self.radius_m + self.radial_m) * r_hat + self.cross_m * normal
        v_eci = (self.radius_m + self.radial_m) * n * t_hat
        theta = EARTH_ROTATION_RAD_S * t
        c, s = np.cos(theta), np.sin(theta)
        omega = np.array([0.0, 0.0, EARTH_ROTATION_RAD_S])
        v_rel = v_eci - np.cross(omega, r_eci)

        def to_ecef(x: NDArray[np.float64]) -> NDArray[np.float64]:
            return np.stack([c * x[..., 0] + s * x[..., 1], -s * x[..., 0] + c * x[..., 1],
                             x[..., 2]], -1)

        return to_ecef(r_eci), to_ecef(v_rel)


@dataclass(frozen=True, eq=False)
class SimulatedPair:
    """Two simulated scenes and the truth they were made from.

    Attributes:
        primary: The primary scene (a crop at ``(margin, margin)`` of its full scene).
        secondary: The secondary scene, same crop shape.
        los_m: ``(ny, nx)`` true LOS displacement on the primary grid, metres, positive
            towards the satellite, float32.
        height_m: ``(ny, nx)`` ellipsoidal height of each primary pixel's ground point.
        lon_deg: ``(ny, nx)`` longitude of each primary pixel's ground point.
        lat_deg: ``(ny, nx)`` latitude.
        dem: The terrain used (None for the bare ellipsoid).
        offset_px: The secondary's offset ``(line, pixel)``: primary ``(l, p)`` is
            secondary ``(l + dl, p + dp)``.
        perpendicular_baseline_m: Baseline perpendicular to the line of sight at the scene
            centre, metres.
        height_of_ambiguity_m: Height giving one fringe of topographic phase, metres.
        incidence_deg: Incidence angle at the scene centre, degrees.
        source_lonlat: ``(lon, lat)`` of the deformation source (None without one).
        coherence: ``(ny, nx)`` expected coherence.
    """

    primary: SlcScene
    secondary: SlcScene
    los_m: NDArray[np.float32]
    height_m: NDArray[np.float32]
    lon_deg: NDArray[np.float64]
    lat_deg: NDArray[np.float64]
    dem: GeoDem | None
    offset_px: tuple[float, float]
    perpendicular_baseline_m: float
    height_of_ambiguity_m: float
    incidence_deg: float
    source_lonlat: tuple[float, float] | None
    coherence: NDArray[np.float32]


def _place_orbit(p0: NDArray[np.float64], up0: NDArray[np.float64], radius_m: float,
                 inclination_deg: float, incidence_deg: float, ascending: bool,
                 look_side: str, lat0: float, lon0: float) -> _Kepler:
    """Node and phase of the circular orbit that sees ``p0`` at t = 0 under the incidence."""
    inc = math.radians(inclination_deg)
    sin_look = 6371e3 * math.sin(math.radians(incidence_deg)) / radius_m
    gamma = math.radians(incidence_deg) - math.asin(sin_look)
    u0 = math.asin(max(-1.0, min(1.0, math.sin(math.radians(lat0)) / math.sin(inc))))
    if not ascending:
        u0 = math.pi - u0
    # right-looking ascending (heading about north-west) looks east: platform to the west
    west = (look_side == "right") == ascending
    lon_s = math.radians(lon0) + (-1 if west else 1) * gamma / math.cos(math.radians(lat0))
    raan = lon_s - math.atan2(math.cos(inc) * math.sin(u0), math.cos(u0))

    def residual(x: NDArray[np.float64]) -> NDArray[np.float64]:
        k = _Kepler(radius_m, inc, float(x[0]), float(x[1]))
        s, v = k.state(np.zeros(1))
        d = s[0] - p0
        los = d / np.linalg.norm(d)
        return np.array([float(d @ v[0]) / float(np.linalg.norm(v[0])) / 1e3,
                         math.acos(float(los @ up0)) - math.radians(incidence_deg)])

    sol = optimize.fsolve(residual, np.array([raan, u0]), xtol=1e-13)
    return _Kepler(radius_m, inc, float(sol[0]), float(sol[1]))


def _state_vectors(k: _Kepler, t_centre: datetime) -> StateVectors:
    half = (_N_VECTORS - 1) // 2
    t = (np.arange(_N_VECTORS, dtype=np.float64) - half) * _VECTOR_INTERVAL_S
    pos, vel = k.state(t)
    return StateVectors(t_centre - timedelta(seconds=half * _VECTOR_INTERVAL_S),
                        _VECTOR_INTERVAL_S, pos, vel)


def band_limited_noise(shape: tuple[int, int], rng: np.random.Generator,
                       bandwidth_fraction: float) -> NDArray[np.complex64]:
    """Circular complex Gaussian noise of unit power with a rectangular spectrum.

    Args:
        shape: ``(ny, nx)``.
        rng: Random generator.
        bandwidth_fraction: Occupied fraction of the sampling rate on each axis, (0, 1].

    Returns:
        ``(ny, nx)`` complex64, zero Doppler centroid (spectrum centred on 0).
    """
    ny, nx = shape
    white = (rng.standard_normal((ny, nx), dtype=np.float32)
             + 1j * rng.standard_normal((ny, nx), dtype=np.float32)).astype(np.complex64)
    spec = sfft.fft2(white)
    keep_y = np.abs(sfft.fftfreq(ny)) <= bandwidth_fraction / 2.0
    keep_x = np.abs(sfft.fftfreq(nx)) <= bandwidth_fraction / 2.0
    spec *= (keep_y[:, None] & keep_x[None, :])
    out = sfft.ifft2(spec)
    out *= np.float32(1.0 / math.sqrt(2.0 * keep_y.mean() * keep_x.mean()))
    return out.astype(np.complex64)


def cone_dem(centre_lonlat: tuple[float, float], bounds: tuple[float, float, float, float],
             height_m: float, radius_m: float, spacing_deg: float = 1.0 / 3600.0) -> GeoDem:
    """A synthetic volcanic cone on a lon/lat grid (ellipsoidal heights).

    ``h = height_m * max(0, 1 - r / radius_m) ** 1.5`` (steeper near the summit, no kink
    at the foot), ``r`` the ground distance from ``centre_lonlat``.

    Args:
        centre_lonlat: Summit ``(lon, lat)``, degrees.
        bounds: ``(west, south, east, north)`` of the grid, degrees.
        height_m: Summit height, metres.
        radius_m: Base radius, metres (> 0).
        spacing_deg: Grid spacing, degrees (default 1 arc-second).
    """
    if not radius_m > 0:
        raise InputError(f"cone_dem: radius_m must be > 0 metres, got {radius_m!r}")
    west, south, east, north = bounds
    nx = max(2, int(math.ceil((east - west) / spacing_deg)))
    ny = max(2, int(math.ceil((north - south) / spacing_deg)))
    transform = Affine(spacing_deg, 0.0, west, 0.0, -spacing_deg, north)
    lon = west + (np.arange(nx) + 0.5) * spacing_deg
    lat = north - (np.arange(ny) + 0.5) * spacing_deg
    m_lat = 111_132.0
    m_lon = 111_320.0 * math.cos(math.radians(centre_lonlat[1]))
    r = np.hypot((lon[None, :] - centre_lonlat[0]) * m_lon, (lat[:, None] - centre_lonlat[1])
                 * m_lat)
    h = height_m * np.clip(1.0 - r / radius_m, 0.0, None) ** 1.5
    return GeoDem(h.astype(np.float32), transform, 0.0, "synthetic cone")


def _on_grid(step: int, shape: tuple[int, int]) -> tuple[NDArray[np.float64],
                                                        NDArray[np.float64]]:
    ny, nx = shape
    rows = np.unique(np.r_[np.arange(0, ny, step), ny - 1]).astype(np.float64)
    cols = np.unique(np.r_[np.arange(0, nx, step), nx - 1]).astype(np.float64)
    return rows, cols


def _upsample(coarse: NDArray[np.float64], rows: NDArray[np.float64],
              cols: NDArray[np.float64], shape: tuple[int, int]) -> NDArray[np.float64]:
    if coarse.shape == shape:
        return coarse
    ri = np.interp(np.arange(shape[0]), rows, np.arange(rows.size))
    ci = np.interp(np.arange(shape[1]), cols, np.arange(cols.size))
    rr, cc = np.meshgrid(ri, ci, indexing="ij")
    return np.asarray(ndimage.map_coordinates(coarse, [rr, cc], order=1, mode="nearest"))


def simulate_pair(
    rng: np.random.Generator,
    shape: tuple[int, int] = (256, 256),
    *,
    centre_lonlat: tuple[float, float] = (120.99, 14.0),
    acquired: tuple[date, date] = (date(2020, 1, 1), date(2020, 2, 12)),
    ascending: bool = True,
    look_side: str = "right",
    incidence_deg: float = 35.0,
    altitude_m: float = ALOS2_ALTITUDE_M,
    azimuth_spacing_m: float = 20.0,
    range_spacing_m: float = 15.0,
    wavelength_m: float = 0.2384,
    perpendicular_baseline_m: float = 300.0,
    offset_px: tuple[float, float] = (0.4, 0.35),
    coherence: float | NDArray[np.floating] = 0.9,
    bandwidth_fraction: float = 0.8,
    dem: GeoDem | None = None,
    cone_height_m: float = 0.0,
    cone_radius_m: float = 3000.0,
    source_depth_m: float = 2000.0,
    source_dvolume_m3: float = 0.0,
    source_offset_m: tuple[float, float] = (0.0, 0.0),
    orbit_error_m: tuple[float, float] = (0.0, 0.0),
    margin: int = 24,
    geometry_step: int = 1,
) -> SimulatedPair:
    """Simulate a primary and a secondary SLC crop over ``centre_lonlat``.

    Args:
        rng: Random generator (speckle and noise).
        shape: ``(ny, nx)`` of each crop, pixels.
        centre_lonlat: Scene centre ``(lon, lat)``, degrees.
        acquired: Primary and secondary acquisition dates.
        ascending: Ascending (True) or descending pass.
        look_side: ``"right"`` (ALOS-2's usual) or ``"left"``.
        incidence_deg: Incidence angle at the scene centre, degrees.
        altitude_m: Orbit altitude above the equatorial radius, metres.
        azimuth_spacing_m: Ground spacing of lines, metres (sets the line interval).
        range_spacing_m: Slant-range pixel spacing, metres.
        wavelength_m: Radar wavelength, metres.
        perpendicular_baseline_m: Perpendicular baseline, metres.
        offset_px: Secondary offset ``(line, pixel)``, pixels (any real values).
        coherence: Expected coherence, scalar or ``(ny, nx)``, in [0, 1].
        bandwidth_fraction: Occupied fraction of the sampling rate, (0, 1].
        dem: Terrain; when None a cone of ``cone_height_m`` (0: flat ellipsoid).
        cone_height_m: Height of the synthetic cone at the centre, metres (>= 0).
        cone_radius_m: Base radius of the cone, metres.
        source_depth_m: Depth of the Mogi source, metres.
        source_dvolume_m3: Volume change of the Mogi source, m^3 (0: no deformation).
        source_offset_m: Source position east and north of the centre, metres.
        orbit_error_m: Error of the stored secondary orbit, cross-track and radial, metres.
        margin: Pixels of the full scene around the crop (>= 8 + the offset).
        geometry_step: Geolocate every ``step`` pixels and interpolate (1: every pixel).

    Returns:
        The :class:`SimulatedPair`.
    """
    ny, nx = (int(v) for v in shape)
    if ny < 16 or nx < 16:
        raise InputError(f"simulate_pair: shape must be at least 16 x 16, got {shape!r}")
    if look_side not in ("right", "left"):
        raise InputError(f"simulate_pair: look_side must be 'right' or 'left', got "
                         f"{look_side!r}")
    if not 0.0 < bandwidth_fraction <= 1.0:
        raise InputError(f"simulate_pair: bandwidth_fraction must lie in (0, 1], got "
                         f"{bandwidth_fraction!r}")
    if not 10.0 <= incidence_deg <= 60.0:
        raise InputError(f"simulate_pair: incidence_deg must lie in [10, 60], got "
                         f"{incidence_deg!r}")
    dl, dp = float(offset_px[0]), float(offset_px[1])
    pad = 8 + int(math.ceil(max(abs(dl), abs(dp))))
    if margin < pad:
        raise InputError(f"simulate_pair: margin must be >= {pad} pixels for an offset of "
                         f"{offset_px}, got {margin}")
    gamma = np.broadcast_to(np.asarray(coherence, dtype=np.float64), (ny, nx))
    if not (np.all(np.isfinite(gamma)) and gamma.min() >= 0 and gamma.max() <= 1):
        raise InputError("simulate_pair: coherence must lie in [0, 1]")
    geometry_step = max(1, int(geometry_step))

    lon0, lat0 = centre_lonlat
    h_centre = 0.0
    if dem is None and cone_height_m > 0:
        h_centre = cone_height_m
    elif dem is not None:
        h_centre = float(dem.sample(lon0, lat0))
        if not math.isfinite(h_centre):
            raise InputError(f"simulate_pair: the DEM {dem.source} does not cover the centre "
                             f"{centre_lonlat}")
    p0 = geodetic_to_ecef(lon0, lat0, h_centre)
    up0 = enu_basis(lon0, lat0)[2]
    radius = 6378137.0 + altitude_m
    k1 = _place_orbit(p0, up0, radius, ALOS2_INCLINATION_DEG, incidence_deg, ascending,
                      look_side, lat0, lon0)
    s0, v0 = k1.state(np.zeros(1))
    los0 = (p0 - s0[0]) / np.linalg.norm(p0 - s0[0])
    r_hat = s0[0] / np.linalg.norm(s0[0])
    cross = np.cross(r_hat, v0[0] / np.linalg.norm(v0[0]))
    # baseline perpendicular to the line of sight, in the plane (radial, orbit normal)
    b_dir = np.cross(los0, np.cross(r_hat, cross))
    b_dir /= np.linalg.norm(b_dir)
    b_vec = perpendicular_baseline_m * b_dir
    b_radial, b_cross = float(b_vec @ r_hat), float(b_vec @ cross)
    k2 = _Kepler(k1.radius_m, k1.inclination_rad, k1.raan_rad, k1.u0_rad, b_cross, b_radial)
    k2_true = _Kepler(k1.radius_m, k1.inclination_rad, k1.raan_rad, k1.u0_rad,
                      b_cross + orbit_error_m[0], b_radial + orbit_error_m[1])

    noon1 = datetime.combine(acquired[0], time(12, 0), UTC)
    noon2 = datetime.combine(acquired[1], time(12, 0), UTC)
    sv1, sv2 = _state_vectors(k1, noon1), _state_vectors(k2, noon2)
    orbit1, orbit2 = Orbit(sv1), Orbit(sv2)
    ground_speed = float(np.linalg.norm(v0[0])) * float(np.linalg.norm(p0)) \
        / float(np.linalg.norm(s0[0]))
    dt = azimuth_spacing_m / ground_speed
    r0 = float(np.linalg.norm(p0 - s0[0]))
    lc, pc = (ny - 1) / 2.0, (nx - 1) / 2.0
    n_lines, n_pixels = ny + 2 * margin, nx + 2 * margin
    g1 = SlcGeometry(noon1 - timedelta(seconds=(lc + margin) * dt), dt,
                     r0 - (pc + margin) * range_spacing_m, range_spacing_m, wavelength_m,
                     n_lines, n_pixels, look_side, sv1)
    t2c = float(zero_doppler_time(orbit2, p0, orbit2.seconds(noon2)))
    r2c = float(np.linalg.norm(orbit2.position(t2c) - p0))
    first2 = sv2.first_time + timedelta(seconds=t2c - (lc + dl + margin) * dt)
    g2_plain = SlcGeometry(first2, dt, r2c - (pc + dp + margin) * range_spacing_m,
                           range_spacing_m, wavelength_m, n_lines, n_pixels, look_side, sv2)
    dummy = np.zeros((ny, nx), np.complex64)
    prim0 = SlcScene("SIM-PRIMARY", acquired[0], "HH", dummy, g1, margin, margin)
    sec0 = SlcScene("SIM-SECONDARY", acquired[1], "HH", dummy, g2_plain, margin, margin)

    # terrain
    if dem is None and cone_height_m > 0:
        cl = np.array([-pad, -pad, ny + pad, ny + pad], dtype=np.float64)
        cp = np.array([-pad, nx + pad, -pad, nx + pad], dtype=np.float64)
        corners = np.concatenate([geolocate(prim0, orbit1, cl, cp),
                                  geolocate(prim0, orbit1, cl, cp, height_m=cone_height_m)])
        lon_c, lat_c, _ = ecef_to_geodetic(corners)
        bounds = (float(lon_c.min()) - 0.01, float(lat_c.min()) - 0.01,
                  float(lon_c.max()) + 0.01, float(lat_c.max()) + 0.01)
        dem = cone_dem(centre_lonlat, bounds, cone_height_m, cone_radius_m)

    # geometry of every padded primary pixel (on a grid of geometry_step)
    shape_p = (ny + 2 * pad, nx + 2 * pad)
    rows, cols = _on_grid(geometry_step, shape_p)
    ll, pp = np.meshgrid(rows - pad, cols - pad, indexing="ij")
    ground = geolocate(prim0, orbit1, ll, pp, dem)
    lon, lat, hgt = ecef_to_geodetic(ground)
    t1 = orbit1.seconds(g1.first_line_time) + (margin + ll) * dt
    s1 = orbit1.position(t1)
    r1 = np.linalg.norm(s1 - ground, axis=-1)
    true2 = Orbit(_state_vectors(k2_true, noon2))
    t2 = zero_doppler_time(true2, ground, t2c)
    r2 = np.linalg.norm(true2.position(t2) - ground, axis=-1)
    los_unit = (s1 - ground) / r1[..., None]
    disp = np.zeros(ll.shape)
    source_lonlat = None
    if source_dvolume_m3 != 0.0:
        m_lat = 111_132.0
        m_lon = 111_320.0 * math.cos(math.radians(lat0))
        src_lon = lon0 + source_offset_m[0] / m_lon
        src_lat = lat0 + source_offset_m[1] / m_lat
        source_lonlat = (src_lon, src_lat)
        basis = enu_basis(src_lon, src_lat)
        rel = ground - geodetic_to_ecef(src_lon, src_lat, 0.0)
        enu = mogi(rel @ basis[0], rel @ basis[1], depth_m=source_depth_m,
                   dvolume_m3=source_dvolume_m3)
        disp_xyz = (enu.east[..., None] * basis[0] + enu.north[..., None] * basis[1]
                    + enu.up[..., None] * basis[2])
        disp = np.einsum("...i,...i", disp_xyz, los_unit)
    path = r2 - disp - r1
    path_f = _upsample(path, rows, cols, shape_p)
    phase = np.exp(-1j * (4.0 * math.pi / wavelength_m) * path_f).astype(np.complex64)

    gpad = np.pad(gamma, pad, mode="edge")
    common = band_limited_noise(shape_p, rng, bandwidth_fraction)
    n1 = band_limited_noise(shape_p, rng, bandwidth_fraction)
    n2 = band_limited_noise(shape_p, rng, bandwidth_fraction)
    a, b = np.sqrt(gpad).astype(np.float32), np.sqrt(1.0 - gpad).astype(np.float32)
    slc1 = a * common + b * n1
    field2 = (a * common + b * n2) * phase
    del common, n1, n2, phase
    spec = sfft.fft2(field2)
    spec = ndimage.fourier_shift(spec, (dl, dp))
    slc2 = sfft.ifft2(spec).astype(np.complex64)
    del spec, field2
    inner = (slice(pad, pad + ny), slice(pad, pad + nx))

    # lon/lat polynomials of the full scenes (on the ellipsoid)
    g_full = []
    for scene, orbit in ((prim0, orbit1), (sec0, orbit2)):
        fl = np.linspace(0, n_lines - 1, 9)
        fp = np.linspace(0, n_pixels - 1, 9)
        fl2, fp2 = np.meshgrid(fl, fp, indexing="ij")
        xyz = geolocate(scene, orbit, fl2 - margin, fp2 - margin)
        plon, plat, _ = ecef_to_geodetic(xyz)
        fwd, inv = fit_lonlat_polynomials(fl2, fp2, plon, plat, degree=3)
        g = scene.geometry
        g_full.append(SlcGeometry(g.first_line_time, g.line_interval_s,
                                  g.slant_range_first_m, g.range_pixel_spacing_m,
                                  g.wavelength_m, g.n_lines, g.n_pixels, g.look_side, g.orbit,
                                  fwd, inv))
    primary = SlcScene("SIM-PRIMARY", acquired[0], "HH",
                       np.ascontiguousarray(slc1[inner]), g_full[0], margin, margin)
    secondary = SlcScene("SIM-SECONDARY", acquired[1], "HH",
                         np.ascontiguousarray(slc2[inner]), g_full[1], margin, margin)

    # truth on the crop
    sin_inc = math.sin(math.radians(incidence_deg))
    if geometry_step == 1:
        los_m = disp[inner]
        lon_c2, lat_c2, hgt_c = lon[inner], lat[inner], hgt[inner]
    else:
        los_m = _upsample(disp, rows, cols, shape_p)[inner]
        lon_c2 = _upsample(lon, rows, cols, shape_p)[inner]
        lat_c2 = _upsample(lat, rows, cols, shape_p)[inner]
        hgt_c = _upsample(hgt, rows, cols, shape_p)[inner]
    return SimulatedPair(
        primary=primary,
        secondary=secondary,
        los_m=np.asarray(los_m, dtype=np.float32),
        height_m=np.asarray(hgt_c, dtype=np.float32),
        lon_deg=np.asarray(lon_c2),
        lat_deg=np.asarray(lat_c2),
        dem=dem,
        offset_px=(dl, dp),
        perpendicular_baseline_m=float(perpendicular_baseline_m),
        height_of_ambiguity_m=wavelength_m * r0 * sin_inc / (2.0 * abs(perpendicular_baseline_m))
        if perpendicular_baseline_m else math.inf,
        incidence_deg=float(incidence_deg),
        source_lonlat=source_lonlat,
        coherence=np.asarray(gamma, dtype=np.float32),
    )
