"""``insar-monitor lstt A B``: least-squares two-sample test between two sets of samples.

``A`` and ``B`` are either rasters (GeoTIFF, or ``.npy`` with ``--as-raster``) or ``.npy``
sample arrays (``(n,)`` values or ``(n, d)`` vectors). Raster pixels are thinned to a grid
``--spacing`` pixels apart (default: 3.5 correlation lengths, estimated from each raster;
the larger is used) so that the samples are close to independent, optionally taken as
``--patch K`` windows, and subsampled to ``--max-samples``. ``A`` is the numerator of the
density ratio: the test is most sensitive when ``A`` is the narrower distribution, so put
the stable reference first and the region suspected of deforming second.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.cli.help_text import description_from
from monitor.errors import InputError
from monitor.science import lstt_defaults

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

#: Widest sample vector accepted from ``.npy`` (an 11 x 11 patch); wider arrays are
#: almost certainly rasters given without ``--as-raster``.
MAX_NPY_DIMENSION = 121
_SPLIT_WORDS = {"random-split": "a random split", "observed": "the observed split"}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``lstt`` subcommand."""
    parser = subparsers.add_parser(
        "lstt", help="least-squares two-sample test between two rasters or sample arrays",
        description=description_from(__doc__),
    )
    parser.add_argument("a", help="A (numerator): raster (.tif) or .npy samples")
    parser.add_argument("b", help="B (denominator): raster (.tif) or .npy samples")
    parser.add_argument("--permutations", type=int, default=lstt_defaults.DEFAULT_PERMUTATIONS,
                        help="random splits of the pooled samples (default %(default)s)")
    parser.add_argument("--patch", type=int, default=1,
                        help="take K x K windows from rasters as sample vectors (default 1)")
    parser.add_argument("--max-samples", type=int, default=2000,
                        help="keep at most N samples from each input (default %(default)s)")
    parser.add_argument("--spacing", type=int, default=None,
                        help="raster sampling grid step in pixels (default: estimated)")
    parser.add_argument("--centres", type=int, default=lstt_defaults.DEFAULT_CENTRES,
                        help="kernel centres; lowered to the pooled sample size when "
                             "larger (default %(default)s)")
    parser.add_argument("--select-on", choices=lstt_defaults.SELECT_ON,
                        default="random-split",
                        help="split on which sigma and lambda are cross-validated")
    parser.add_argument("--as-raster", action="store_true",
                        help="read .npy inputs as 2-D rasters rather than sample arrays")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def _is_raster(path: Path, as_raster: bool) -> bool:
    return path.suffix.lower() != ".npy" or as_raster


def _load_samples(path: Path) -> NDArray[np.float64]:
    import numpy as np

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable .npy array ({exc})") from None
    if arr.ndim not in (1, 2) or not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{path}: expected numeric samples of shape (n,) or (n, d), got "
                         f"dtype {arr.dtype} shape {arr.shape}")
    if arr.ndim == 2 and arr.shape[1] > MAX_NPY_DIMENSION:
        raise InputError(f"{path}: sample vectors of length {arr.shape[1]} (> "
                         f"{MAX_NPY_DIMENSION}); if this is a raster, pass --as-raster")
    out = np.asarray(arr, dtype=np.float64)
    if out.ndim == 1:
        out = out[:, None]
    finite = np.isfinite(out).all(axis=1)
    if not finite.any():
        raise InputError(f"{path}: no finite sample (all NaN)")
    return out[finite]


def _subsample(x: NDArray[np.float64], max_samples: int, rng: np.random.Generator
               ) -> NDArray[np.float64]:
    if x.shape[0] <= max_samples:
        return x
    import numpy as np

    return x[np.sort(rng.choice(x.shape[0], max_samples, replace=False))]


def _json_value(v: float) -> float | None:
    return None if math.isnan(v) else v


def run(args: argparse.Namespace) -> int:
    """Run the test and print the result (text, or JSON with ``--json``)."""
    import numpy as np

    from monitor.io.rasters import read_raster
    from monitor.science import lstt as lstt_science
    from monitor.science import lstt_regions

    if args.permutations < 1:
        raise InputError(f"--permutations: expected >= 1, got {args.permutations}")
    if args.max_samples < 2:
        raise InputError(f"--max-samples: expected >= 2, got {args.max_samples}")
    if args.centres < 1:
        raise InputError(f"--centres: expected >= 1, got {args.centres}")
    rng = np.random.default_rng(args.seed)
    paths = [Path(args.a), Path(args.b)]
    rasters = {}
    for p in paths:
        if _is_raster(p, args.as_raster):
            rasters[p] = read_raster(p).data.astype(np.float64)
    spacing = args.spacing
    length = float("nan")
    if rasters and spacing is None:
        length = max(lstt_regions.correlation_length_px(r) for r in rasters.values())
        spacing = max(1, math.ceil(lstt_regions.DEFAULT_SPACING_FACTOR * length))
    samples = []
    for p in paths:
        if p in rasters:
            field = rasters[p]
            try:
                x = lstt_regions.region_samples(
                    field, np.ones(field.shape, bool), rng=rng, patch=args.patch,
                    spacing_px=int(spacing), max_samples=args.max_samples)
            except InputError as exc:
                raise InputError(f"{p}: {exc}") from None
        else:
            x = _subsample(_load_samples(p), args.max_samples, rng)
        samples.append(x)
    n_centres = min(args.centres, samples[0].shape[0] + samples[1].shape[0])
    result = lstt_science.lstt(samples[0], samples[1], n_permutations=args.permutations,
                               n_centres=n_centres, select_on=args.select_on, rng=rng)
    record = {
        "a": str(paths[0]),
        "b": str(paths[1]),
        "pe": result.pe,
        "p_value": result.p_value,
        "sigma": result.sigma,
        "sigma_data_units": result.sigma * result.scale,
        "lambda": result.lambda_,
        "n_a": result.n_a,
        "n_b": result.n_b,
        "n_permutations": result.n_permutations,
        "n_centres": result.n_centres,
        "seed_statistic": _json_value(result.seed_statistic),
        "pe_variational": result.pe_variational,
        "scale": result.scale,
        "select_on": result.select_on,
        "dimension": int(samples[0].shape[1]),
        "spacing_px": spacing if rasters else None,
        "correlation_length_px": _json_value(length),
        "seed": args.seed,
    }
    if args.json:
        print(json.dumps(record))
        return 0
    print(f"LSTT  A={paths[0]}  B={paths[1]}")
    print(f"  PE = {result.pe:.6g}   p-value = {result.p_value:.4g} "
          f"({result.n_permutations} permutations)")
    print(f"  samples: n_a = {result.n_a}, n_b = {result.n_b}, dimension "
          f"{samples[0].shape[1]}" + (f", raster grid step {spacing} px" if rasters else ""))
    print(f"  sigma = {result.sigma:.4g} (x scale {result.scale:.4g} = "
          f"{result.sigma * result.scale:.4g} data units), lambda = {result.lambda_:.4g}, "
          f"{result.n_centres} centres, cross-validated on "
          f"{_SPLIT_WORDS[result.select_on]}")
    seed_stat = "none larger" if math.isnan(result.seed_statistic) else \
        f"{result.seed_statistic:.6g}"
    print(f"  Taal-application statistic (mean of larger permuted PE): {seed_stat}")
    return 0
