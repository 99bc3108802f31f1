"""Markdown for the report of ``insar-monitor evaluate atmosphere``."""

from __future__ import annotations

import math
from typing import Any

_LABELS = {"empirical": "empirical (the watch's fit)",
           "empirical_plain": "plain linear fit (LiCSBAS/MintPy style)",
           "empirical_linear": "empirical (linear)",
           "weather_model": "weather model (simulated GACOS)",
           "perfect": "perfect (x - S): the ceiling"}


def _pct(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{100.0 * value:.1f}%"


def _rows(block: dict[str, Any], methods: list[str], label: str) -> list[str]:
    a, d = block["atmosphere"], block["deformation"]
    rows = []
    for m in methods:
        rows.append(
            f"| {label} | {_LABELS.get(m, m)} | {a['flagged']}/{a['n']} "
            f"({_pct(a['flag_rate'])}) | {a[m]['flagged_after']}/{a['n']} "
            f"({_pct(a[m]['flag_rate_after'])}) | {_pct(a[m]['cleared_share'])} | "
            f"{d['flagged']}/{d['n']} | {_pct(d[m]['kept_share'])} | "
            f"{d['detectable']} | {_pct(d[m]['kept_share_detectable'])} | "
            f"{a[m]['not_possible'] + d[m]['not_possible']} |")
    return rows


def atmosphere_markdown(report: dict[str, Any]) -> str:
    """The report as markdown: the protocol statement and the tables, per model."""
    methods = list(report["methods"])
    lines = ["# Atmospheric correction of flagged steps", "",
             f"Code version {report['code_version']}.", "", "Protocol:", ""]
    lines += [f"- {s}" for s in report["statement"]]
    head = ["| set | method | atmosphere flagged before | after | cleared (of flagged) | "
            "deformation flagged before | kept (of flagged) | of those, detectable without S "
            "| kept (of detectable) | correction not possible |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for model in report["models"]:
        summary = model["summary"]
        lines += ["", f"## Model `{model['label']}` ({model['arch']}, sha256 "
                  f"{str(model['sha256'])[:12]}, {model['seconds']:.0f} s)", ""]
        lines += head + _rows(summary["overall"], methods, "all")
        for name, block in summary["by_dem"].items():
            lines += _rows(block, methods, name)
        lines += ["", "Deformation cases by peak |LOS| (true positives kept, of those "
                  "flagged before):", "",
                  "| peak LOS (cm) | n | flagged before | detectable without S | "
                  + " | ".join(f"kept: {_LABELS.get(m, m)} (of detectable)" for m in methods)
                  + " |",
                  "| --- | --- | --- | --- | " + " | ".join("---" for _ in methods) + " |"]
        for b in summary["by_peak_los_cm"]:
            hi = "inf" if b["high_cm"] is None or not math.isfinite(b["high_cm"]) \
                else f"{b['high_cm']:g}"
            lines.append(f"| {b['low_cm']:g}-{hi} | {b['n']} | {b['flagged']} | "
                         f"{b['detectable']} | "
                         + " | ".join(f"{_pct(b[m]['kept_share'])} "
                                      f"({_pct(b[m]['kept_share_detectable'])})"
                                      for m in methods) + " |")
    return "\n".join(lines) + "\n"
