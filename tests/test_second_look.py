"""The detector's second look with a DEM (:mod:`monitor.science.detect.second_look`).

Scenes on the packaged Agung crop (224 x 224 pixels of 100 m, 0-2993 m), scored by the
packaged compact detector: a strong stratified delay (2.5 cm of zenith delay per km at 38
degrees) with 2 mm of turbulence, which the detector flags, with and without a 5 cm uplift
under the summit.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray

import monitor.science.detect.second_look as second_look_module
from monitor.errors import InputError
from monitor.io.models import LoadedModel
from monitor.science.detect.fusion import Detection, detect_displacement
from monitor.science.detect.second_look import (
    SecondLookSettings,
    largest_anomaly,
    second_look,
)

COS_INC = math.cos(math.radians(38.0))
C1_LOS = -2.5e-5 / COS_INC


@pytest.fixture(scope="module")
def scene(agung_scene: Callable[..., dict[str, NDArray[np.float32]]]
          ) -> dict[str, NDArray[np.float32]]:
    out = agung_scene(2.5e-5, 38.0, 0.002, 4000.0, seed=5, uplift_m=0.05)
    return {**out, "clean": out["turbulence"]}


@pytest.fixture
def score(model: LoadedModel):  # type: ignore[no-untyped-def]
    class Counting:
        """The packaged CNN, remembering the maps it scored."""

        def __init__(self) -> None:
            self.calls: list[NDArray[np.float32]] = []

        def detect(self, x: NDArray[np.float32]) -> Detection:
            self.calls.append(x)
            return detect_displacement(model.model, x)

    return Counting()


def test_a_flagged_stratification_is_corrected_and_cleared(
        scene: dict[str, NDArray[np.float32]], score) -> None:  # type: ignore[no-untyped-def]
    look = second_look(scene["atmosphere"], scene["dem"], score, 100.0)
    assert look.raw.flag and not look.final.flag and look.method == "empirical"
    assert look.fit is not None and look.reason is None and look.corrected is not None
    assert look.fit.coefficients[0] == pytest.approx(C1_LOS, rel=0.10)
    assert look.fit.band_sigma_px == (10.0, 10.0)
    # The corrected map is the one scored: raw, then corrected.
    assert len(score.calls) == 2 and np.array_equal(score.calls[1], look.corrected)


def test_uplift_under_the_summit_stays_flagged(
        scene: dict[str, NDArray[np.float32]], score) -> None:  # type: ignore[no-untyped-def]
    look = second_look(scene["deformation"], scene["dem"], score, (100.0, 100.0))
    assert look.raw.flag and look.final.flag and look.method == "empirical"
    # What is left at the summit is the uplift, not the stratification.
    r, c = np.unravel_index(int(np.argmax(scene["dem"])), scene["dem"].shape)
    assert look.corrected is not None
    edge = np.zeros_like(scene["dem"], dtype=bool)
    edge[:10], edge[-10:], edge[:, :10], edge[:, -10:] = True, True, True, True
    left = float(look.corrected[r, c] - np.median(look.corrected[edge]))
    perfect = scene["deformation"] - (scene["atmosphere"] - scene["clean"])
    truth = float(perfect[r, c] - np.median(perfect[edge]))
    # Within 3 mm (the turbulence between summit and edge is part of both); a quadratic
    # fit, with no target disc to leave out, takes 3 of these 4.2 cm.
    assert left == pytest.approx(truth, abs=0.003)
    quadratic = second_look(scene["deformation"], scene["dem"], score, 100.0,
                            SecondLookSettings(untargeted_order=2)).corrected
    assert quadratic is not None
    assert float(quadratic[r, c] - np.median(quadratic[edge])) < truth - 0.02


def test_an_unflagged_map_is_not_touched(
        scene: dict[str, NDArray[np.float32]], score) -> None:  # type: ignore[no-untyped-def]
    raw = score.detect(scene["clean"])
    assert not raw.flag
    look = second_look(scene["clean"], scene["dem"], score, 100.0, raw=raw)
    assert look.final is raw and look.method == "none" and look.fit is None
    assert look.reason is None and len(score.calls) == 1  # the given raw was not redone


def test_a_fit_that_cannot_be_made_keeps_the_raw_decision_with_its_reason(
        scene: dict[str, NDArray[np.float32]], score,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    flat = np.full_like(scene["dem"], 250.0)
    look = second_look(scene["atmosphere"], flat, score, 100.0)
    assert look.final is look.raw and look.raw.flag and look.method == "none"
    assert look.reason is not None and "too flat" in look.reason

    def broken(*args: object, **kwargs: object) -> None:
        raise np.linalg.LinAlgError("SVD did not converge")

    monkeypatch.setattr(second_look_module, "correct_with_dem", broken)
    look = second_look(scene["atmosphere"], scene["dem"], score, 100.0)
    assert look.final is look.raw and look.reason == "failed: LinAlgError: SVD did not converge"


def test_scattered_coherent_pixels_still_get_a_decision(
        scene: dict[str, NDArray[np.float32]], score) -> None:  # type: ignore[no-untyped-def]
    """A map with a few scattered coherent pixels has no smoothed anomaly; a flagged one
    still gets a decision (the raw one, with the reason) instead of an error."""
    sparse = np.full_like(scene["atmosphere"], np.nan)
    for r, c in ((60, 60), (100, 150), (170, 40)):
        sparse[r, c] = scene["atmosphere"][r, c]
    assert largest_anomaly(sparse, (10.0, 10.0)) is None
    flagged = Detection(0.9, {1.0: 0.9}, True, 0, 0, np.full(sparse.shape, 0.9, np.float32))
    look = second_look(sparse, scene["dem"], score, 100.0, raw=flagged)
    assert look.final is flagged and look.method == "none"
    assert look.reason is not None and "only 3 usable pixels" in look.reason


def test_bad_input_is_refused_by_name(scene: dict[str, NDArray[np.float32]],
                                      score) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="same grid"):
        second_look(scene["atmosphere"], scene["dem"][:100], score, 100.0)
    for bad in (0.0, -100.0, math.nan, (100.0, 0.0), "wide"):
        with pytest.raises(InputError, match="pixel_m"):
            second_look(scene["atmosphere"], scene["dem"], score, bad)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="order"):
        SecondLookSettings(order=3)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="band_sigma_m"):
        SecondLookSettings(band_sigma_m=-1.0)
    with pytest.raises(InputError, match="min_pixels"):
        SecondLookSettings(min_pixels=2)
