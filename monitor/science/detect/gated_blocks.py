"""The block network with a second network for windows with gaps.

The real frame the block network was trained on (Erta Ale, Sentinel-1 014A) is coherent
almost everywhere: in its 218 interferograms no 20 km window around the target has more
than 0.2% of its 650 m blocks invalid. A network trained on such maps reads a window
with an incoherent region badly (on real quiet maps with a region of a real shape over
30% of the window it finds half the 3 cm sources it finds without). A network trained
with such regions on a quarter of its maps (``train-blocks --incoherent-fraction 0.25``)
reads gapped windows far better but coherent ones a little worse on the real frame (more
quiet arrivals above the series' threshold). :class:`GatedBlockNet` keeps both: a window
with at least :data:`GAP_GATE` of its blocks invalid (the validity channel the networks
already read) goes to the gap network, every other window to the coherent one, whose
weights keep the plain network's keys, so that on coherent windows it is the plain
network exactly.

The two networks' raw logits are on different scales. Both are calibrated on the same
maps (a frame's quiet maps and injected copies, :mod:`monitor.detector_blocks`), and a
gap-network logit ``l`` is put on the coherent network's scale by matching the two
calibrations: ``t_c + (l - t_g) s_g / s_c`` with the slopes below or above the threshold
as ``l`` lies (:func:`to_coherent_scale`): a conversion of units between two networks
that read the same maps, so the calibrated P of a gapped window, the series' own
threshold (which pools the raw logits of every arrival) and the calibrations refitted
later on another frame all read one scale. A window with gaps holds less evidence, and
the gap network's quiet logits sit lower on it than on the coherent maps the scale was
matched on, so P = 0.5 is stricter there (measured in the model card: no held-out quiet
map with gaps flagged, where calibrating the gap network on maps with gaps instead
flagged 6% of them and 9% of another simulator's quiet epochs with gaps).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from monitor.errors import InputError
from monitor.science.detect.blocks import BLOCK_ARCH, BlockCalibration, BlockNet

#: Share of a window's blocks invalid from which the gap network reads it. The coherent
#: network is as good as the gap network up to about 5% of a map incoherent and clearly
#: worse from 10% (``bench/bench_block_gaps.py --fractions 0,0.05,0.1,...``).
GAP_GATE = 0.1


def coherent_scale(coherent: BlockCalibration, gapped: BlockCalibration
                   ) -> dict[str, float]:
    """The affine pieces that put a gap-network logit on the coherent network's scale
    (module docstring): the two thresholds and the ratios of the slopes below and above
    them."""
    return {"gap_threshold": gapped.threshold, "threshold": coherent.threshold,
            "ratio_below": gapped.slope / coherent.slope,
            "ratio_above": gapped.upper_slope / coherent.upper_slope}


def to_coherent_scale(logits: torch.Tensor, scale: dict[str, float]) -> torch.Tensor:
    """Gap-network ``logits`` on the coherent network's scale (:func:`coherent_scale`):
    the coherent calibration gives the result the P the gap network's gives ``logits``."""
    d = logits - scale["gap_threshold"]
    ratio = torch.where(d > 0, torch.as_tensor(scale["ratio_above"], dtype=logits.dtype),
                        torch.as_tensor(scale["ratio_below"], dtype=logits.dtype))
    return scale["threshold"] + d * ratio


class GatedBlockNet(BlockNet):
    """A :class:`BlockNet` (the coherent network, its own weights under the plain keys)
    with a second one, ``gapped``, for windows with at least ``gate`` of their blocks
    invalid, its logits put on the coherent scale (module docstring).

    Args:
        width: The coherent network's first layer's channels.
        gap_width: The gap network's.
        gate: Share of invalid blocks from which the gap network reads a window, in
            (0, 1).
        scale: :func:`coherent_scale`'s record (four finite numbers, ratios positive).
    """

    arch: ClassVar[str] = BLOCK_ARCH

    def __init__(self, width: int = 32, *, gap_width: int = 32, gate: float = GAP_GATE,
                 scale: dict[str, float]) -> None:
        super().__init__(width)
        keys = ("gap_threshold", "threshold", "ratio_below", "ratio_above")
        try:
            self.scale = {k: float(scale[k]) for k in keys}
            self.gate = float(gate)
        except (KeyError, TypeError, ValueError):
            raise InputError(f"gated block network: scale must hold {', '.join(keys)} and "
                             f"gate a number, got {scale!r}, {gate!r}") from None
        if not (0.0 < self.gate < 1.0 and all(math.isfinite(v) for v in self.scale.values())
                and self.scale["ratio_below"] > 0 and self.scale["ratio_above"] > 0):
            raise InputError(f"gated block network: gate must lie in (0, 1) and the scale "
                             f"be finite with positive ratios, got {gate!r}, {scale!r}")
        self.gapped = BlockNet(gap_width)

    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this network (:func:`block_network`)."""
        return {"width": self.width, "gap_width": self.gapped.width, "gate": self.gate,
                "scale": dict(self.scale)}

    def coherent(self) -> BlockNet:
        """The coherent network alone (a copy of its weights, eval mode)."""
        net = BlockNet(self.width)
        net.load_state_dict({k: v for k, v in self.state_dict().items()
                             if not k.startswith("gapped.")})
        return net.eval()

    def gated(self, x: torch.Tensor) -> torch.Tensor:
        """Which windows ``(N, 2, h, w)`` the gap network reads (boolean ``(N,)``)."""
        return (1.0 - x[:, 1].mean((1, 2))) >= self.gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N,)`` on the coherent scale (each window through one network)."""
        gated = self.gated(x)
        if not bool(gated.any()):
            return super().forward(x)
        logits = x.new_empty(len(x))
        logits[gated] = to_coherent_scale(self.gapped(x[gated]), self.scale)
        if not bool(gated.all()):
            logits[~gated] = super().forward(x[~gated])
        return logits

    def evidence(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """As :meth:`BlockNet.evidence`, each window's from the network that reads it."""
        gated = self.gated(x)
        if not bool(gated.any()):
            return super().evidence(x)
        g_logits, g_maps = self.gapped.evidence(x[gated])
        logits = x.new_empty(len(x), dtype=g_logits.dtype)
        maps = x.new_empty((len(x), *g_maps.shape[1:]), dtype=g_maps.dtype)
        logits[gated], maps[gated] = to_coherent_scale(g_logits, self.scale), g_maps
        if not bool(gated.all()):
            logits[~gated], maps[~gated] = super().evidence(x[~gated])
        return logits, maps


def block_network(config: dict[str, Any]) -> BlockNet:
    """The block network a model file's ``config`` describes: a :class:`GatedBlockNet`
    when it names a gap network, a plain :class:`BlockNet` otherwise.

    Raises:
        InputError: a configuration that makes neither.
    """
    if not isinstance(config, dict):
        raise InputError(f"block network: configuration must be a table, got {config!r}")
    if "scale" in config:
        return GatedBlockNet(**config)
    return BlockNet(**config)


def gate_networks(coherent: BlockNet, gapped: BlockNet, scale: dict[str, float],
                  gate: float = GAP_GATE) -> GatedBlockNet:
    """One gated network from two trained plain ones (their weights copied).

    Raises:
        InputError: either is already gated, or a bad gate or scale.
    """
    if isinstance(coherent, GatedBlockNet) or isinstance(gapped, GatedBlockNet):
        raise InputError("gated block network: both networks must be plain block networks")
    net = GatedBlockNet(coherent.width, gap_width=gapped.width, gate=gate, scale=scale)
    net.load_state_dict({**coherent.state_dict(),
                         **{f"gapped.{k}": v for k, v in gapped.state_dict().items()}})
    return net.eval()
