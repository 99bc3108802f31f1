"""Where torch computes: the device (``auto``, ``cpu``, ``cuda``) and the CPU thread count.

The detector commands take them as ``--device`` and ``--threads``; the messages name the
options.
"""

from __future__ import annotations

import torch

from monitor.errors import InputError

#: Devices accepted by :func:`resolve_device`.
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is visible, else ``"cpu"``; checks ``"cuda"``."""
    if name not in DEVICES:
        raise InputError(f"--device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for but torch sees no CUDA device; "
                         "use --device cpu or auto")
    return name


def set_threads(threads: int | None) -> None:
    """``torch.set_num_threads`` when ``--threads`` is given (at least 1)."""
    if threads is None:
        return
    if threads < 1:
        raise InputError(f"--threads must be at least 1, got {threads}")
    torch.set_num_threads(threads)
