"""``insar-monitor synth dataset``, ``synth archive`` and ``synth semireal``.

``synth dataset`` draws labelled samples with :mod:`monitor.science.synth`; its options
beyond the paper's recipe (power-law and anisotropic turbulence, exponential and laterally
varying stratification, orbital ramps, unwrapping errors, more sources, incoherent shapes)
are all off by default and are described in docs/generator.md. ``synth semireal`` adds
generated deformation to a real frame's quiet epochs (:mod:`monitor.science.semireal`).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from typing import TYPE_CHECKING

from monitor.cli.detector_options import date_arg, int_range_arg, range_arg
from monitor.errors import InputError
from monitor.io.volcanoes import KNOWN_VOLCANOES
from monitor.science.synth_schemes import (
    ALL_SOURCE_KINDS,
    INCOHERENT_SHAPES,
    POWERLAW_SPECTRA,
    SCHEMES,
    SOURCE_KINDS,
    STRATIFICATION_PROFILES,
    TURBULENCE_KINDS,
)

if TYPE_CHECKING:
    import numpy as np


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _delay_kinds(text: str) -> tuple[str, ...]:
    from monitor.io.synth_archive import parse_delay_kinds

    try:
        return parse_delay_kinds(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("synth", help="synthetic interferograms and archives")
    sub = parser.add_subparsers(dest="synth_command", metavar="WHAT")
    sub.required = True

    ds = sub.add_parser("dataset", help="labelled training/test set (.npz shards + manifest)")
    ds.add_argument("--n", type=int, required=True, help="number of samples")
    ds.add_argument("--scheme", default="2class", choices=sorted(SCHEMES))
    ds.add_argument("--out", required=True, help="output directory")
    ds.add_argument("--seed", type=int, default=0)
    ds.add_argument("--size", type=int, default=None,
                    help="sample size in pixels (default synth.shape from the config)")
    ds.add_argument("--pixel-m", type=float, default=None, help="pixel spacing, metres")
    ds.add_argument("--sources", default=",".join(SOURCE_KINDS),
                    help=f"comma-separated source kinds (default {','.join(SOURCE_KINDS)}; "
                         f"also {','.join(k for k in ALL_SOURCE_KINDS if k not in SOURCE_KINDS)}"
                         ": two Mogi sources, a sill of Gaussian opening)")
    ds.add_argument("--peak-los-m", type=range_arg, default=None, metavar="MIN,MAX",
                    help="rescale deformation to a log-uniform peak |LOS| in this range")
    ds.add_argument("--stratified", default="mixed", choices=["weak", "strong", "mixed"])
    ds.add_argument("--real-dems", default="",
                    help="comma-separated packaged SRTM crops for the stratified delay "
                         "(e.g. taal,campi_flegrei); with --synthetic-dems they form a pool")
    ds.add_argument("--synthetic-dems", type=int, default=0,
                    help="number of synthetic edifices drawn once into the DEM pool "
                         "(0 and no --real-dems: a new synthetic edifice per sample)")
    ds.add_argument("--deflation-probability", type=float, default=0.0,
                    help="probability that a Mogi or sill source deflates")
    nature = ds.add_argument_group(
        "more of nature (all off by default; docs/generator.md gives the references)")
    nature.add_argument("--turbulent-sigma-mm", type=range_arg, default=None, metavar="MIN,MAX",
                        help="turbulent delay standard deviation range, mm (default "
                             "synth.turbulent_sigma_m of the config: 2.2,3.0; real 12-day "
                             "Sentinel-1 maps: about 5,19)")
    nature.add_argument("--turbulence", default="exponential", choices=TURBULENCE_KINDS,
                        help="T: exponential covariance (Anantrasirichai et al. 2019a), "
                             "power law by spectral synthesis (Hanssen 2001, 4.7), or "
                             "either per sample (exponential)")
    nature.add_argument("--powerlaw-spectrum", default="single", choices=POWERLAW_SPECTRA,
                        help="power law: one 2-D exponent (--powerlaw-beta) or Hanssen's "
                             "three regimes 8/3, 11/3, 5/3 (single)")
    nature.add_argument("--powerlaw-beta", type=range_arg, default=(8 / 3, 8 / 3),
                        metavar="MIN,MAX",
                        help="2-D spectral exponent range; 8/3 gives a structure function "
                             "~ r^(2/3) (8/3,8/3)")
    nature.add_argument("--turbulence-axis-ratio", type=range_arg, default=(1.0, 1.0),
                        metavar="MIN,MAX",
                        help="power law: elongation of the structures, random direction "
                             "(1,1 = isotropic)")
    nature.add_argument("--turbulence-amplitude-variation", type=range_arg, default=(0.0, 0.0),
                        metavar="MIN,MAX",
                        help="power law: log-std of a smooth amplitude modulation across "
                             "the scene (0,0 = uniform)")
    nature.add_argument("--stratification-profile", default="polynomial",
                        choices=STRATIFICATION_PROFILES,
                        help="S in height: k1 dh + k2 dh^2, k1 H (1 - exp(-dh/H)) "
                             "(Doin et al. 2009), or either per sample (polynomial)")
    nature.add_argument("--stratified-lateral-variation", type=range_arg, default=(0.0, 0.0),
                        metavar="MIN,MAX",
                        help="relative std of a k1 that varies across the map (Bekaert, "
                             "Hooper & Wright 2015) (0,0 = one k1)")
    nature.add_argument("--orbital-ramp-m", type=range_arg, default=(0.0, 0.0),
                        metavar="MIN,MAX",
                        help="peak-to-peak orbital ramp over the scene, metres (Fattahi & "
                             "Amelung 2014; e.g. 0.003,0.03) (0,0 = none)")
    nature.add_argument("--orbital-quadratic-fraction", type=float, default=0.0,
                        help="largest weight of the ramp's quadratic part, 0-1 (0)")
    nature.add_argument("--unwrap-error-fraction", type=float, default=0.0,
                        help="fraction of samples with unwrapping errors: whole fringes "
                             "(lambda/2) beyond curves and in islands (Chen & Zebker 2001; "
                             "Biggs et al. 2007) (0)")
    nature.add_argument("--unwrap-error-cuts", type=int_range_arg, default=(1, 2),
                        metavar="MIN,MAX",
                        help="number of cut curves in such a sample (1,2)")
    nature.add_argument("--unwrap-error-islands", type=int_range_arg, default=(0, 1),
                        metavar="MIN,MAX", help="number of jumped islands (0,1)")
    nature.add_argument("--incoherent-shapes", type=_names, default=("blobs",),
                        metavar="SHAPES",
                        help=f"incoherent regions of decorrelated samples, one picked per "
                             f"sample from ({','.join(INCOHERENT_SHAPES)}) (blobs)")
    ds.add_argument("--workers", type=int, default=1, help="worker processes")
    ds.add_argument("--config", help="TOML configuration (synth section)")
    ds.set_defaults(func=run_dataset)

    ar = sub.add_parser("archive", help="LiCSAR-layout archive of a volcano's series")
    ar.add_argument("--out", required=True, help="archive root directory")
    ar.add_argument("--onset", type=date_arg, default=date(2024, 7, 4),
                    help="first date of deformation (YYYY-MM-DD)")
    ar.add_argument("--no-deformation", action="store_true", help="atmosphere only")
    ar.add_argument("--rate", type=float, default=0.10,
                    help="peak LOS displacement rate after onset, metres per year")
    ar.add_argument("--start", type=date_arg, default=date(2024, 1, 6), help="first epoch")
    ar.add_argument("--epochs", type=int, default=30, help="number of acquisitions")
    ar.add_argument("--interval-days", type=int, default=12)
    ar.add_argument("--frame", default="022D_04826_121209")
    ar.add_argument("--volcano", default="campi_flegrei",
                    choices=[*KNOWN_VOLCANOES, "synthetic"])
    ar.add_argument("--size", type=int, default=200, help="grid size, pixels of 0.001 deg")
    ar.add_argument("--network", default="daisy", choices=["daisy", "nearest3"])
    ar.add_argument("--stratified", default="weak", choices=["weak", "strong", "none"])
    ar.add_argument("--depth-m", type=float, default=3000.0, help="Mogi source depth")
    ar.add_argument("--seed", type=int, default=0)
    ar.add_argument("--delays", type=_delay_kinds, default=(), metavar="MODELS",
                    help="also publish per-epoch weather-model total delays, e.g. "
                         "gacos,icams (epochs/<d>/<d>.sltd.geo.tif, <d>.icams.sltd.geo.tif)")
    ar.add_argument("--delay-geometry", default="zenith", choices=["zenith", "slant"],
                    help="zenith delays, or slant ones (zenith / U) as the LiCSAR portal's")
    ar.set_defaults(func=run_archive)

    sr = sub.add_parser("semireal", help="semi-real 2-class set: generated deformation "
                                         "added to a real frame's quiet epochs")
    sr.add_argument("--archive", required=True, help="LiCSAR-layout archive root")
    sr.add_argument("--frame", required=True, help="frame ID under ARCHIVE")
    sr.add_argument("--years", default=None, metavar="YEARS",
                    help="keep epochs whose second date falls in these years "
                         "(2015,2016,2019-2021; default all): hold the others out")
    sr.add_argument("--events", default=None, metavar="START:END[,...]",
                    help="leave out epochs overlapping these windows (known deformation)")
    sr.add_argument("--n", type=int, required=True, help="number of samples")
    sr.add_argument("--out", required=True, help="output directory")
    sr.add_argument("--seed", type=int, default=0)
    sr.add_argument("--sources", default=",".join(SOURCE_KINDS),
                    help="comma-separated source kinds of the deformation")
    sr.add_argument("--peak-los-m", type=range_arg, default=(0.015, 0.2), metavar="MIN,MAX",
                    help="peak |LOS| of the deformation, log-uniform (0.015,0.2)")
    sr.add_argument("--deflation-probability", type=float, default=0.5,
                    help="chance that a Mogi or sill source deflates (0.5)")
    sr.add_argument("--max-span", type=int, default=3,
                    help="longest run of consecutive increments summed into one map (3)")
    sr.add_argument("--noise-scale", type=range_arg, default=(0.7, 1.4), metavar="MIN,MAX",
                    help="log-uniform amplitude factor of the real noise (0.7,1.4)")
    sr.add_argument("--config", help="TOML configuration (rasters, science sections)")
    sr.set_defaults(func=run_semireal)


def run_dataset(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from monitor.config import load_settings
    from monitor.io.datasets import write_dataset
    from monitor.io.dem_pool import build_dem_pool
    from monitor.science.sources import SourceRanges
    from monitor.science.synth import SynthRecipe

    settings = load_settings(args.config)
    size = args.size
    shape = (size, size) if size else settings.synth.shape
    recipe = SynthRecipe(
        shape=shape,
        pixel_m=args.pixel_m or settings.synth.pixel_m,
        source_kinds=tuple(k.strip() for k in args.sources.split(",") if k.strip()),
        peak_los_m=args.peak_los_m,
        sources=SourceRanges(deflation_probability=args.deflation_probability),
        turbulent_sigma_m=(settings.synth.turbulent_sigma_m if args.turbulent_sigma_mm is None
                           else (args.turbulent_sigma_mm[0] * 1e-3,
                                 args.turbulent_sigma_mm[1] * 1e-3)),
        turbulent_length_m=settings.synth.turbulent_length_m,
        stratified_strength=args.stratified,
        decorrelation_fraction=settings.synth.decorrelation_fraction,
        coherence_threshold=settings.science.coherence_threshold,
        turbulence=args.turbulence,
        powerlaw_spectrum=args.powerlaw_spectrum,
        powerlaw_beta=args.powerlaw_beta,
        turbulence_axis_ratio=args.turbulence_axis_ratio,
        turbulence_amplitude_variation=args.turbulence_amplitude_variation,
        stratification_profile=args.stratification_profile,
        stratified_lateral_variation=args.stratified_lateral_variation,
        orbital_ramp_m=args.orbital_ramp_m,
        orbital_quadratic_fraction=args.orbital_quadratic_fraction,
        unwrap_error_fraction=args.unwrap_error_fraction,
        unwrap_error_cuts=args.unwrap_error_cuts,
        unwrap_error_islands=args.unwrap_error_islands,
        incoherent_shapes=args.incoherent_shapes,
    )
    bar = tqdm(total=args.n, unit="sample", disable=not sys.stderr.isatty())

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)

    real = tuple(n.strip() for n in args.real_dems.split(",") if n.strip())
    pool: list[np.ndarray] | None = None
    pool_names: list[str] = []
    if real or args.synthetic_dems:
        pool, pool_names = build_dem_pool(real, args.synthetic_dems, recipe.shape,
                                          recipe.pixel_m, args.seed)
    manifest = write_dataset(args.out, n=args.n, scheme=args.scheme, recipe=recipe,
                             seed=args.seed, shard_size=settings.synth.shard_size,
                             workers=args.workers, progress=progress, dem_pool=pool,
                             dem_pool_names=pool_names)
    bar.close()
    print(json.dumps({"out": args.out, "n": manifest["n"], "scheme": manifest["scheme"],
                      "classes": manifest["classes"], "shards": len(manifest["shards"])}))
    return 0


def run_archive(args: argparse.Namespace) -> int:
    from monitor.io.synth_archive import write_synthetic_archive
    from monitor.science.synth_series import SeriesScenario

    if args.epochs < 2:
        raise InputError(f"--epochs must be at least 2, got {args.epochs}")
    scenario = SeriesScenario(
        start=args.start, n_epochs=args.epochs, interval_days=args.interval_days,
        onset=None if args.no_deformation else args.onset, rate_m_per_yr=args.rate,
        source_depth_m=args.depth_m, stratified_strength=args.stratified,
    )
    summary = write_synthetic_archive(args.out, scenario=scenario, frame=args.frame,
                                      volcano=args.volcano, size_px=args.size,
                                      network=args.network, seed=args.seed,
                                      delays=args.delays,
                                      delay_geometry=args.delay_geometry)
    print(json.dumps({
        "root": str(summary.root), "frame": summary.frame,
        "epochs": len(summary.epochs), "interferograms": len(summary.pairs),
        "first": summary.epochs[0].isoformat(), "last": summary.epochs[-1].isoformat(),
        "onset": summary.onset.isoformat() if summary.onset else None,
        "rate_m_per_yr": summary.rate_m_per_yr, "delays": list(summary.delays),
    }))
    return 0


def run_semireal(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from monitor.config import load_settings
    from monitor.event_windows import parse_events, parse_years
    from monitor.io.datasets import write_semireal_dataset
    from monitor.noise_bank import load_noise_bank
    from monitor.science.semireal import SemiRealRecipe
    from monitor.science.sources import SourceRanges
    from monitor.science.synth import SynthRecipe

    settings = load_settings(args.config)
    bank = load_noise_bank(args.archive, args.frame, settings,
                           events=parse_events(args.events), years=parse_years(args.years))
    recipe = SemiRealRecipe(
        pixel_m=float(sum(bank.grid.pixel_m) / 2), max_span=args.max_span,
        noise_scale=args.noise_scale,
        synth=SynthRecipe(
            source_kinds=tuple(k.strip() for k in args.sources.split(",") if k.strip()),
            peak_los_m=args.peak_los_m,
            sources=SourceRanges(deflation_probability=args.deflation_probability)))
    bar = tqdm(total=args.n, unit="sample", disable=not sys.stderr.isatty())

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)

    manifest = write_semireal_dataset(args.out, epochs=bank.epochs, n=args.n, recipe=recipe,
                                      seed=args.seed, source=bank.source, progress=progress,
                                      shard_size=settings.synth.shard_size)
    bar.close()
    print(json.dumps({"out": args.out, "n": manifest["n"], "kind": "semi-real",
                      "epochs": manifest["noise_bank"]["epochs"],
                      "spans": manifest["noise_bank"]["spans"],
                      "shards": len(manifest["shards"])}))
    return 0
