"""``insar-monitor train-blocks``: train and calibrate the block detector on a real frame.

Trains the block network (:mod:`monitor.science.detect.blocks`: block means of unwrapped
displacement, about 650 m, in 20 km windows) on the quiet products of the
``--train-years`` of a LiCSAR-layout frame with generated sources of six kinds added to
half of them, chooses the step on the ``--val-years`` (AUC of injected Mogi sources of
2 cm and more against the quiet products), calibrates it on the same years (P = 0.5 at
the conformal 95% quantile of their quiet logits, a Platt slope) and writes the model
file with its provenance. Hold the years you evaluate on (``evaluate real --years``) out
of both.

A checkpoint is written at every evaluation (default ``OUT.ckpt``); a run that was
killed continues with ``--resume CHECKPOINT`` and the same options.
"""

from __future__ import annotations

import argparse
import json

from monitor.cli.detector_options import range_arg
from monitor.cli.help_text import description_from


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train-blocks`` subcommand."""
    parser = subparsers.add_parser(
        "train-blocks", help="train and calibrate the block detector on a real frame",
        description=description_from(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--archive", required=True, help="LiCSAR-layout archive root")
    parser.add_argument("--frame", required=True, help="frame ID under ARCHIVE")
    parser.add_argument("--events", default=None, metavar="START:END[,...]",
                        help="event windows: products overlapping them are not quiet")
    parser.add_argument("--train-years", required=True, metavar="YEARS",
                        help="training years (2014-2016,2019-2020)")
    parser.add_argument("--val-years", required=True, metavar="YEARS",
                        help="validation and calibration years, held out of training")
    parser.add_argument("--steps", type=int, default=3000, help="training steps (3000)")
    parser.add_argument("--eval-every", type=int, default=250,
                        help="validate (and checkpoint) every N steps (250)")
    parser.add_argument("--sources", type=int, default=1200,
                        help="source patterns drawn for the positives (1200)")
    parser.add_argument("--batch-size", type=int, default=64, help="windows per step (64)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    parser.add_argument("--width", type=int, default=32, help="first layer's channels (32)")
    parser.add_argument("--peak-los-m", type=range_arg, default=(0.008, 0.10),
                        metavar="MIN,MAX",
                        help="peak |LOS| of the training sources, metres (0.008,0.10)")
    parser.add_argument("--unwrap-fraction", type=float, default=0.0,
                        help="fraction of training maps (either class) given one "
                             "whole-fringe unwrapping error, an island or a cut (0)")
    parser.add_argument("--incoherent-fraction", type=float, default=0.0,
                        help="fraction of training maps (either class) given an incoherent "
                             "region of a real shape over 5-60%% of the window (0)")
    parser.add_argument("--n-inject", type=int, default=40,
                        help="validation maps given a Mogi source of 1-4 cm (40)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the network, batches and sources (0)")
    parser.add_argument("--seed-eval", type=int, default=707,
                        help="seed of the validation injections (evaluate real's, 707)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--config", help="TOML configuration (science, rasters sections)")
    parser.add_argument("--out", required=True, help="model file to write")
    parser.add_argument("--checkpoint", default=None, help="checkpoint (default OUT.ckpt)")
    parser.add_argument("--resume", default=None, metavar="CHECKPOINT",
                        help="continue the run saved in this checkpoint")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train, calibrate, write the model; print a JSON summary."""
    from monitor.detector_blocks import BlockTrainOptions, run_block_training
    from monitor.errors import InputError
    from monitor.event_windows import parse_events, parse_years

    train, val = (parse_years(args.train_years, "--train-years"),
                  parse_years(args.val_years, "--val-years"))
    if not train or not val:
        raise InputError("train-blocks: give --train-years and --val-years (blocks of time)")
    opts = BlockTrainOptions(
        archive=args.archive, frame=args.frame, events=parse_events(args.events),
        train_years=train, val_years=val, out=args.out, steps=args.steps,
        eval_every=args.eval_every, sources=args.sources, batch_size=args.batch_size,
        lr=args.lr, width=args.width, unwrap_fraction=args.unwrap_fraction,
        incoherent_fraction=args.incoherent_fraction,
        peak_los_m=args.peak_los_m,
        seed=args.seed, seed_eval=args.seed_eval,
        n_inject=args.n_inject, checkpoint=args.checkpoint, resume=args.resume,
        threads=args.threads, config=args.config)
    print(json.dumps(run_block_training(opts)))
    return 0
