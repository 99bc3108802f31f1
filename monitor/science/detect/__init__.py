"""The deformation detector: CNN patch classifiers, inference, multi-gain fusion.

Modules:
    encoding   wrapped phase -> network channels ("gray" as the papers, "cos_sin_mask")
    base       the interface of a patch classifier (224 x 224 patch -> 2 classes)
    alexnet    AlexNet with torchvision's layout (the papers' network)
    compact    compact fully convolutional network (dense inference path)
    registry   build_model(arch, **config)
    canny      masked Canny edges (scikit-image's, with mask terms shared between gains)
    patching   patch grid and padding, Canny phase-jump prefilter, merge and smoothing
    inference  probability maps by the sliding-window and dense paths
    fusion     multi-gain fusion, the Detection record, pixel -> lon/lat
    names      architecture, inference-path and coverage names (no torch)
    threshold_protocol  the detection-threshold protocol's case grid (no numpy)
    training   training loop on displacement patches with re-wrap augmentation
    blocks     the block detector: a small network on 650 m block means of unwrapped
               displacement in 20 km windows, its calibration (not a patch classifier)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.science.detect.fusion import (
        DEFAULT_GAINS,
        Detection,
        detect_displacement,
        detect_wrapped,
        fuse_maps,
        pixel_centre_lonlat,
    )
    from monitor.science.detect.inference import (
        ProbabilityMap,
        probability_map,
        probability_maps,
    )
    from monitor.science.detect.patching import PatchConfig
    from monitor.science.detect.registry import ARCHITECTURES, build_model

#: Where each re-exported name lives; imported on first use (PEP 562), so that importing
#: a light submodule (``names``, ``threshold_protocol``) does not load torch.
_HOMES = {
    "DEFAULT_GAINS": "fusion", "Detection": "fusion", "detect_displacement": "fusion",
    "detect_wrapped": "fusion", "fuse_maps": "fusion", "pixel_centre_lonlat": "fusion",
    "ProbabilityMap": "inference", "probability_map": "inference",
    "probability_maps": "inference", "PatchConfig": "patching",
    "ARCHITECTURES": "registry", "build_model": "registry",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


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
