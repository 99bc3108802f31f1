"""The deformation detector: CNN patch classifiers, seed-002 inference, seed-003 fusion.

Modules:
    encoding   wrapped phase -> network channels ("gray" as the seeds, "cos_sin_mask")
    base       the interface of a patch classifier (224 x 224 patch -> 2 classes)
    alexnet    AlexNet with torchvision's layout (the seeds' network)
    compact    compact fully convolutional network (dense inference path)
    registry   build_model(arch, **config)
    canny      masked Canny edges (scikit-image's, with mask terms shared between gains)
    patching   patch grid and padding, Canny phase-jump prefilter, merge and smoothing
    inference  probability maps by the sliding-window and dense paths
    fusion     multi-gain fusion, the Detection record, pixel -> lon/lat
    training   training loop on displacement patches with re-wrap augmentation
"""

from __future__ import annotations

from monitor.science.detect.fusion import (
    DEFAULT_GAINS,
    Detection,
    detect_displacement,
    detect_wrapped,
    fuse_maps,
    pixel_centre_lonlat,
)
from monitor.science.detect.inference import ProbabilityMap, probability_map, probability_maps
from monitor.science.detect.patching import PatchConfig
from monitor.science.detect.registry import ARCHITECTURES, build_model

__all__ = [
    "ARCHITECTURES",
    "DEFAULT_GAINS",
    "Detection",
    "PatchConfig",
    "ProbabilityMap",
    "build_model",
    "detect_displacement",
    "detect_wrapped",
    "fuse_maps",
    "pixel_centre_lonlat",
    "probability_map",
    "probability_maps",
]
