"""``insar-monitor train``: train a detector network on synthetic datasets.

Reads a training and a validation set written by ``insar-monitor synth dataset`` (2-class:
label 0 = S+T, 1 = D+S+T; unwrapped LOS metres), trains with
:func:`monitor.science.detect.training.train` (Adam, cross-entropy, re-wrap augmentation
at the ``--gains``, early stopping on the validation loss) and saves the best epoch's
weights with their provenance. Samples larger than 224 x 224 are cropped: training samples
at a random place drawn afresh every epoch, validation samples at the centre.

After every epoch one JSON line goes to the metrics log and a checkpoint (weights,
optimiser, generators, history) is written atomically, by default beside ``--out``. A run
that was killed continues with ``--resume CHECKPOINT`` and the same options (``--epochs``,
``--patience``, ``--device``, ``--threads`` and the output paths may change), giving the
same weights as an uninterrupted run on the same device.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields

from monitor.cli.detector_options import gains_arg, ints_arg
from monitor.cli.help_text import description_from
from monitor.science.detect.names import ARCHITECTURE_NAMES


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    parser = subparsers.add_parser(
        "train", help="train a detector network on synthetic datasets",
        description=description_from(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", required=True,
                        help="training dataset directory (several: comma-separated, pooled)")
    parser.add_argument("--val", required=True,
                        help="validation dataset directory (several: comma-separated)")
    parser.add_argument("--init", default=None, metavar="MODEL",
                        help="start from this model file's network and weights (fine-tune)")
    parser.add_argument("--arch", default="compact", choices=sorted(ARCHITECTURE_NAMES))
    parser.add_argument("--widths", type=ints_arg, default=None,
                        help="layer widths: compact w1,w2,w3,w4 (default 16,32,48,96); "
                             "alexnet c1,c2,c3,c4,c5,fc (default torchvision's)")
    parser.add_argument("--encoding", default=None, choices=["gray", "cos_sin_mask"],
                        help="input encoding (default: the architecture's)")
    parser.add_argument("--dropout", type=float, default=None,
                        help="dropout probability (default: the architecture's)")
    parser.add_argument("--epochs", type=int, default=50, help="maximum epochs (50)")
    parser.add_argument("--batch-size", type=int, default=32, help="patches per step (32)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="Adam weight decay")
    parser.add_argument("--patience", type=int, default=6,
                        help="epochs without a lower validation loss before stopping (6); "
                             "0 = never stop early")
    parser.add_argument("--gains", type=gains_arg, default=None,
                        help="wrap gains drawn for augmentation (default science.gains: "
                             "1,2,4,8)")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first N training samples")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of initialisation, shuffling, augmentation, crops (0)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", default="model.pt", help="model file to write (model.pt)")
    parser.add_argument("--metrics-log", default=None,
                        help="JSON-lines metrics per epoch (default OUT with .metrics.jsonl)")
    parser.add_argument("--checkpoint", default=None,
                        help="checkpoint written every epoch (default OUT with .ckpt)")
    parser.add_argument("--resume", default=None, metavar="CHECKPOINT",
                        help="continue the run saved in this checkpoint")
    parser.add_argument("--config", help="TOML configuration (science section)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train, checkpoint every epoch, save the best model; print a JSON summary."""
    from monitor.detector_training import TrainOptions, run_training

    opts = TrainOptions(**{f.name: getattr(args, f.name) for f in fields(TrainOptions)})
    print(json.dumps(run_training(opts)))
    return 0
