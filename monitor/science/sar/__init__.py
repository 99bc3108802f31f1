"""Synthetic-aperture radar processing from single-look complex scenes to interferograms.

* :mod:`~monitor.science.sar.scene`: the scene and its geometry (the contract between the
  CEOS reader and the interferometry).
* :mod:`~monitor.science.sar.ellipsoid`, :mod:`~monitor.science.sar.orbit`,
  :mod:`~monitor.science.sar.geolocation`: WGS84, orbit interpolation, range-Doppler
  geolocation with or without a DEM.
* :mod:`~monitor.science.sar.coregistration`: sub-pixel offsets and resampling.
* :mod:`~monitor.science.sar.interferogram`, :mod:`~monitor.science.sar.geometric_phase`:
  interferogram, multilooking, coherence, flat-earth/orbital/topographic phase, the
  fitted plane.
* :mod:`~monitor.science.sar.geocode`: to a longitude/latitude grid.
* :mod:`~monitor.science.sar.polynomial`: the leader's lon/lat polynomials.
* :mod:`~monitor.science.sar.simulate`: a simulated pair with a known truth.

The chain that also unwraps (SNAPHU runs as a program) is :mod:`monitor.io.sar_chain`;
docs/alos2.md describes the whole path.
"""
