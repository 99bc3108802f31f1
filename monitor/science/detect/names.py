"""Names the detector accepts: architectures, inference paths, patch coverages.

Plain constants (no torch, no numpy), so that the command line can offer them as choices
without loading the networks. The modules that implement them import them from here:
:mod:`~monitor.science.detect.inference` (``METHODS``),
:mod:`~monitor.science.detect.patching` (``COVERAGES``); the registry's
``ARCHITECTURES`` holds one class per name in :data:`ARCHITECTURE_NAMES` (a test keeps
them equal).
"""

from __future__ import annotations

#: Registry names of the detector networks (``CompactNet.arch``, ``AlexNet.arch``).
ARCHITECTURE_NAMES = ("alexnet", "compact")
#: The architecture scored when no model file and no architecture are given.
DEFAULT_ARCH = "compact"
#: Inference paths: ``auto`` picks ``dense`` when the network allows it.
INFERENCE_METHODS = ("auto", "dense", "sliding")
#: Patch padding rules: ``centres`` (every pixel near a patch centre) or ``seed`` (the
#: literal rule of Anantrasirichai et al. 2019a, fewer patches).
PATCH_COVERAGES = ("centres", "seed")
