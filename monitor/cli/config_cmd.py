"""``insar-monitor config check FILE`` and ``config show``."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="check or show a configuration file")
    sub = parser.add_subparsers(dest="config_command", metavar="ACTION")
    sub.required = True
    check = sub.add_parser("check", help="validate FILE (and MONITOR__* overrides)")
    check.add_argument("file", help="TOML configuration file")
    check.set_defaults(func=run_check)
    show = sub.add_parser("show", help="print the effective configuration as JSON")
    show.add_argument("file", nargs="?", help="TOML file (default: embedded defaults)")
    show.set_defaults(func=run_show)


def run_check(args: argparse.Namespace) -> int:
    from monitor.config import load_settings

    load_settings(args.file)
    print(f"{args.file}: OK")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from monitor.config import load_settings

    settings = load_settings(args.file)
    print(json.dumps(settings.model_dump(mode="json"), indent=2))
    return 0
