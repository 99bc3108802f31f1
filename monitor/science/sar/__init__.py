"""Synthetic-aperture radar processing from single-look complex scenes to interferograms.

:mod:`monitor.science.sar.scene` holds the scene and its geometry (the contract between
the CEOS reader and the interferometry).
"""
