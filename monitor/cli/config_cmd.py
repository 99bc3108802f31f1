"""``insar-monitor config check FILE [--online]`` and ``config show``.

``config check`` validates the file (and ``MONITOR__*`` overrides), then prints one line per
finding of :mod:`monitor.service.config_checks` (``WARNING target etna: no recipients and no
webhook: its alerts reach nobody``) and ``FILE: OK (N warnings)``. With ``--online`` it also
reaches the archives, the SMTP server (nothing is sent) and the database. Exit status: 0 with
warnings only; an invalid file exits 2 (``ConfigError``); a failed online check exits with the
code of the first failure's error class (archive 4, database 5, SMTP 7, outbox folder 2).

``config show`` prints the effective configuration as JSON with the database URL's password
(and any other secret, :func:`monitor.redact.mask_tree`) replaced by ``***``.
"""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="check or show a configuration file")
    sub = parser.add_subparsers(dest="config_command", metavar="ACTION")
    sub.required = True
    check = sub.add_parser("check", help="validate FILE (and MONITOR__* overrides)")
    check.add_argument("file", help="TOML configuration file")
    check.add_argument("--online", action="store_true",
                       help="also reach the archives, the SMTP server (nothing is sent) and "
                            "the database, with short timeouts")
    check.set_defaults(func=run_check)
    show = sub.add_parser("show", help="print the effective configuration as JSON "
                                       "(passwords masked)")
    show.add_argument("file", nargs="?", help="TOML file (default: embedded defaults)")
    show.set_defaults(func=run_show)


def run_check(args: argparse.Namespace) -> int:
    from monitor.config import load_settings
    from monitor.service.config_checks import (
        offline_findings,
        online_findings,
        secret_findings,
        tool_findings,
    )

    settings = load_settings(args.file)
    findings = offline_findings(settings) + secret_findings(settings) \
        + tool_findings(settings)
    if args.online:
        findings += online_findings(settings, args.file)
    for f in findings:
        print(f.line())
    errors = [f for f in findings if f.severity == "error"]
    n_warn = sum(f.severity == "warning" for f in findings)
    warnings = f"{n_warn} warning{'s' if n_warn != 1 else ''}"
    if errors:
        print(f"{args.file}: FAILED ({len(errors)} error{'s' if len(errors) != 1 else ''}, "
              f"{warnings})")
        return errors[0].exit_code
    reached = "; archives, e-mail and database reached" if args.online else ""
    print(f"{args.file}: OK ({warnings}{reached})")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from monitor.config import load_settings
    from monitor.redact import mask_tree

    settings = load_settings(args.file)
    shown = mask_tree(settings.model_dump(mode="json"), keep_env_names=True)
    print(json.dumps(shown, indent=2))
    return 0
