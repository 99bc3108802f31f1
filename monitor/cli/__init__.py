"""The ``insar-monitor`` command line: argument parsing, wiring and exit codes.

Each subcommand lives in its own module exposing ``register(subparsers)`` (adds the
parser and sets ``func``) and ``run(args) -> int``. Errors from the package
(:class:`~monitor.errors.MonitorError`) become one clear line on stderr and the error's
exit code here, and only here.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from monitor import __version__
from monitor.cli.logs import configure_logging
from monitor.errors import MonitorError
from monitor.redact import mask_secrets

log = logging.getLogger(__name__)

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "monitor.cli.demo_cmd",
    "monitor.cli.synth_cmd",
    "monitor.cli.lstt_cmd",
    "monitor.cli.config_cmd",
    "monitor.cli.db_cmd",
    "monitor.cli.train_cmd",
    "monitor.cli.calibrate_cmd",
    "monitor.cli.train_blocks_cmd",
    "monitor.cli.scan_cmd",
    "monitor.cli.evaluate_cmd",
    "monitor.cli.scan_series_cmd",
    "monitor.cli.watch_cmds",
    "monitor.cli.outbox_cmd",
    "monitor.cli.run_cmd",
    "monitor.cli.products_cmd",
    "monitor.cli.feeds_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="insar-monitor",
        description="Near-real-time InSAR volcano deformation watch.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-v info, -vv debug)")
    parser.add_argument("--log-json", action="store_true",
                        help="log one JSON object per line on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``insar-monitor`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(int(args.verbose), 2)
    configure_logging(level, json_lines=bool(args.log_json))
    try:
        return int(args.func(args))
    except MonitorError as exc:
        # Masked once more here: no error message shows a URL's password.
        print(f"insar-monitor {args.command}: error: {mask_secrets(str(exc))}",
              file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
