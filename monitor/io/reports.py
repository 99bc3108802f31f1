"""Evaluation reports of the detector: JSON and markdown tables.

Written by ``insar-monitor evaluate``; the markdown tables are meant to be pasted into (or
included from) ``docs/detection.md``. Inputs are plain dictionaries as the command builds
them (see :mod:`monitor.evaluation`), so that a report can be redrawn from its JSON; the
figures of a report are drawn by :mod:`monitor.figures.evaluation`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monitor.io.atomic import atomic_write
from monitor.science.detect.evaluation import SigmoidFit


def _clean(value: Any) -> Any:
    """Replace NaN and infinities by None so that the JSON is standard."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_json(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write ``payload`` as indented standard JSON (NaN -> null), atomically."""
    p = Path(path)
    text = json.dumps(_clean(payload), indent=1, allow_nan=False) + "\n"
    with atomic_write(p, "w") as fh:
        fh.write(text)
    return p


def _cm(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{100.0 * value:.2f}"


def threshold_text(fit: dict[str, Any]) -> str:
    """A threshold in cm for tables: ``"3.12"``, ``"< 0.27"`` (every case detected, or the
    crossing below the data), ``"> 26.5"`` (never reached) or ``"fit failed"``."""
    status = fit["status"]
    if status == "below_range":
        return f"< {_cm(fit['x_min'])}"
    if status == "above_range":
        return f"> {_cm(fit['x_max'])}"
    if status == "failed":
        return "fit failed"
    return _cm(fit["threshold"])


def fit_from_dict(d: dict[str, Any]) -> SigmoidFit:
    """Rebuild a :class:`SigmoidFit` from its JSON form (None -> NaN)."""
    def num(key: str) -> float:
        v = d.get(key)
        return math.nan if v is None else float(v)
    return SigmoidFit(num("threshold"), num("scale"), str(d["status"]), num("rmse"),
                      int(d["n"]), bool(d["log_x"]), num("x_min"), num("x_max"))


def threshold_table(model: dict[str, Any], column_labels: Sequence[str]) -> str:
    """Markdown table of thresholds (cm) by (alpha, beta) and gain for one model."""
    head = "| alpha | beta | " + " | ".join(column_labels) + " |"
    rule = "| --- | --- | " + " | ".join("---" for _ in column_labels) + " |"
    rows = [head, rule]
    for entry in model["thresholds"]:
        cells = [threshold_text(entry["fits"][c]) for c in column_labels]
        rows.append(f"| {entry['alpha']:g} | {entry['beta']:g} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def threshold_markdown(report: dict[str, Any]) -> str:
    """The markdown of a threshold report: the protocol as used, then a table per model
    and the fused thresholds side by side."""
    proto = report["protocol"]
    lines = ["# Detection thresholds (Anantrasirichai et al. 2019b protocol)", ""]
    lines += [f"- {line}" for line in proto["statement"]]
    lines += ["", "Thresholds in cm of maximum |D| (LOS) where the fitted sigmoid crosses "
              "P = 0.5; '< x': below the smallest displacement of the protocol (every case "
              "detected, or the crossing lies below it), '> x': never reached.", ""]
    labels = report["columns"]
    for model in report["models"]:
        lines += [f"## {model['label']}", "",
                  f"`{model['path']}` ({model['arch']}, sha256 {model['sha256'][:12]}...), "
                  f"{model['seconds']:.1f} s for {len(model['cases'])} interferograms.", "",
                  threshold_table(model, labels), ""]
    if len(report["models"]) > 1:
        names = [m["label"] for m in report["models"]]
        lines += ["## Fused thresholds side by side (cm)", "",
                  "| alpha | beta | " + " | ".join(names) + " |",
                  "| --- | --- | " + " | ".join("---" for _ in names) + " |"]
        for i, entry in enumerate(report["models"][0]["thresholds"]):
            cells = []
            for m in report["models"]:
                cells.append(threshold_text(m["thresholds"][i]["fits"]["fused"]))
            lines.append(f"| {entry['alpha']:g} | {entry['beta']:g} | "
                         + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _deciding(m: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(label, column, block)`` of each deciding score of a model: the fused P, and the
    fused P after the second look with the DEM when the report has it."""
    out = [(m["label"], "fused", m)]
    if "second_look" in m:
        out.append((f"{m['label']} + DEM second look", "fused+DEM", m["second_look"]))
    return out


def roc_markdown(report: dict[str, Any]) -> str:
    """The markdown of a ROC report: the sets as drawn, then one row per model."""
    lines = ["# Held-out ROC and atmosphere-only false positives", ""]
    lines += [f"- {line}" for line in report["statement"]]
    columns = report["columns"]
    lines += ["", "| model | " + " | ".join(f"AUC {c}" for c in columns) + " | s/image |",
              "| --- | " + " | ".join("---" for _ in columns) + " | --- |"]
    for m in report["models"]:
        aucs = " | ".join(_num(m["auc"].get(c), 4) for c in columns)
        extra = m.get("second_look_seconds_per_image")
        timing = f"{m['seconds_per_image']:.3f}" + (
            "" if extra is None else f" (+{extra:.3f} second look)")
        lines.append(f"| {m['label']} | {aucs} | {timing} |")
    notes = [f"- {m['label']}: {m['note']}" for m in report["models"] if m.get("note")]
    if notes:
        lines += [""] + notes
    lines += ["", "Decisions at P > 0.5:", "",
              "| detector | precision | recall | accuracy | false-positive rate (held-out) "
              "| FP rate (atmosphere) |", "| --- | --- | --- | --- | --- | --- |"]
    for m in report["models"]:
        for label, _, block in _deciding(m):
            conf, atm = block["confusion"], block["atmosphere"]
            fp = "-" if atm["n"] == 0 else \
                f"{atm['false_positive_rate']:.3f} ({atm['flagged']}/{atm['n']})"
            lines.append(f"| {label} | {_num(conf['precision'])} | {_num(conf['recall'])} | "
                         f"{_num(conf['accuracy'])} | "
                         f"{_num(conf.get('false_positive_rate'))} | {fp} |")
    first = report["models"][0]
    if "auc_by_min_peak" in first:
        lows = [b["min_peak_cm"] for b in first["auc_by_min_peak"]]
        lines += ["", "AUC with the positives limited to a smallest peak |LOS| (all negatives "
                  "kept):", "",
                  "| detector | " + " | ".join("all" if lo == 0 else f">= {lo:g} cm"
                                               for lo in lows) + " |",
                  "| --- | " + " | ".join("---" for _ in lows) + " |"]
        for m in report["models"]:
            for label, _, block in _deciding(m):
                if "auc_by_min_peak" in block:
                    cells = [f"{_num(b['auc'])} (n={b['n_positives']})"
                             for b in block["auc_by_min_peak"]]
                    lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Recall (P > 0.5) of the positives by peak |LOS|:", "",
              "| detector | " + " | ".join(f"{b['low_cm']:g}-{_edge(b['high_cm'])} cm"
                                            for b in first["recall_by_peak"]) + " |",
              "| --- | " + " | ".join("---" for _ in first["recall_by_peak"]) + " |"]
    for m in report["models"]:
        for label, _, block in _deciding(m):
            cells = [f"{_num(b['recall'])} (n={b['n']})" for b in block["recall_by_peak"]]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    return "\n".join(lines)


def _edge(v: float | None) -> str:
    """A bin edge; JSON writes infinity as null."""
    return "inf" if v is None else f"{v:g}"


def _num(v: float | None, digits: int = 3) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def _rate_cell(block: dict[str, Any]) -> str:
    return "-" if not block["n"] else f"{block['rate']:.3f} ({block['flagged']}/{block['n']})"


def real_markdown(report: dict[str, Any]) -> str:
    """The markdown of an ``evaluate real`` report: counts, FPR overall and per year, the
    semi-real AUCs and recall per amplitude, for every detector."""
    c = report["counts"]
    pairs = [e["pair"] for e in report["epochs"] if e["kind"] != "injected"]
    lines = ["# The detector on real interferograms", ""]
    if report.get("about"):
        lines += [report["about"], ""]
    events = ", ".join(f"{a} to {b}" for a, b in report["events"]) or "none"
    inj = report["injection"]
    lines += [
        f"- frame {report['frame']}, grid {report['grid']['shape'][0]} x "
        f"{report['grid']['shape'][1]} pixels; {c['products']} products read "
        f"({pairs[0] if pairs else '-'} to {pairs[-1] if pairs else '-'}), {c['skipped']} "
        "skipped; each scored as a single map, as `insar-monitor scan` does",
        f"- event windows (products overlapping them are not quiet): {events}; "
        f"{c['quiet']} quiet products, {c['event']} in the windows",
        f"- semi-real: {c['injected_epochs']} quiet epochs drawn with default_rng"
        f"({inj['seed']}){' (with replacement)' if inj['with_replacement'] else ''}, each "
        f"with one source at every amplitude ({', '.join(f'{a:g}' for a in inj['amplitudes_cm'])}"
        f" cm): {inj['source']}; {c['injected_maps']} maps; positives = injected maps, "
        "negatives = all quiet products",
        "- false-positive rate = flagged fraction of the quiet products (P > 0.5), per "
        "calendar year of the pair's second date (blocks of time, not random epochs)",
    ]
    for label, d in report["detectors"].items():
        if label == "mogi matched filter":
            lines.append(f"- {label} (a reference, not a watch detector: it knows the "
                         "injections' source family): the largest fraction of the map, a "
                         "plane removed, that one Mogi template explains (depths "
                         f"{', '.join(f'{z / 1e3:g}' for z in d['depths_m'])} km, positions "
                         f"every {d['step_m'] / 1e3:g} km within "
                         f"{d['max_offset_m'] / 1e3:g} km of the centre); flagged above 0.5")
        elif label == "mogi GLS filter":
            lines.append(f"- {label} (a reference, as the matched filter): the same templates"
                         f" on {d['block_m']:.0f} m blocks, the map whitened with the frame's "
                         f"noise correlation (from {d['correlation_maps']} "
                         f"{d['correlation_from']}; "
                         + ", ".join(f"{c:.2f}" for c in d["correlation_1_2_4_blocks"])
                         + " at 1, 2, 4 blocks), each map's "
                         + d.get("nuisance", "plane")
                         + " as nuisance, the largest |t| of a template's amplitude "
                         "with the map's own noise scale"
                         + (f" (the smaller of its whole residual's and that of the blocks "
                            f"beyond {d['scale_beyond_m'] / 1e3:g} km of the centre)"
                            if d.get("scale_beyond_m") else "")
                         + f"; flagged above "
                         f"{d['threshold_t']:.2f}, {d['threshold_from']}")
        elif "confirmed" in d:
            lines.append(f"- {label}: {d['confirmed'][0]}'s flags where {d['confirmed'][1]} "
                         "flags the map too, P the smaller of the two (each is 0.5 at its "
                         "own threshold)")
        elif label == "block network":
            cal = d["calibration"]
            lines.append(f"- block network: `{d['model']}` (sha256 {d['sha256'][:12]}), "
                         "unwrapped displacement averaged over 650 m blocks, plane and "
                         "height removed in each 20 km window, the best window's logit; "
                         f"P = sigmoid({cal['slope']:.3g} (logit - {cal['threshold']:.3g}))"
                         + ("" if cal.get("slope_above") is None else
                            f", {cal['slope_above']:.3g} instead of {cal['slope']:.3g} "
                            "above the threshold")
                         + ", so P = 0.5 at the conformal 95% quantile of the quiet maps of "
                         + ", ".join(str(y) for y in cal["source"].get("years", []))
                         + " (its calibration years)"
                         + ("" if d.get("gap_gate") is None else
                            f"; a window with {d['gap_gate']:.0%} of its blocks invalid or "
                            "more is read by a second network trained with gaps, its logit "
                            "on the first's scale"))
        elif label == "baseline":
            lines.append(f"- baseline: smoothed peak-to-noise ratio (Gaussian sigma "
                         f"{d['smoothing_m']:g} m, NaN-aware; max |s - median(b)| / "
                         f"(1.4826 MAD(b)), b = s beyond "
                         f"{d.get('noise_exclusion_m', 0) / 1e3:g} km of its peak), flagged "
                         f"above {d['threshold_ratio']:g}; {d['score']}")
        else:
            lines.append(f"- {label}: {d['arch']} `{Path(d['path']).name}` (sha256 "
                         f"{d['sha256'][:12]}), "
                         f"fused P_max at gains {', '.join(f'{g:g}' for g in d['gains'])}")
    summary = report["summary"]
    years = sorted({y for s in summary.values() for y in s["false_positive_rate_by_year"]})
    lines += ["", "False-positive rate on quiet products (flagged/n):", "",
              "| detector | all | " + " | ".join(years) + " | event products flagged |",
              "| --- | --- | " + " | ".join("---" for _ in years) + " | --- |"]
    for label, s in summary.items():
        by_year = s["false_positive_rate_by_year"]
        cells = [_rate_cell(by_year[y]) if y in by_year else "-" for y in years]
        lines.append(f"| {label} | {_rate_cell(s['false_positive_rate'])} | "
                     + " | ".join(cells) + f" | {_rate_cell(s['events_flagged'])} |")
    looked = {label: s["false_positive_rate_second_look"] for label, s in summary.items()
              if "false_positive_rate_second_look" in s}
    if looked:
        lines += ["", "False-positive rate on quiet products after the second look (a flagged "
                  "map corrected with the frame's DEM by the band-filtered phase-elevation "
                  "fit and scored again, as `scan --dem` does):", "",
                  "| detector | flagged/n |", "| --- | --- |"]
        lines += [f"| {label} | {_rate_cell(r)} |" for label, r in looked.items()]
    for label, s in summary.items():
        if "quiet_by_gain" in s:
            gains = list(s["quiet_by_gain"])
            lines += ["", f"{label}, single gains on the quiet products:", "",
                      "| gain | " + " | ".join(gains) + " |",
                      "| --- | " + " | ".join("---" for _ in gains) + " |",
                      "| mean P_max | " + " | ".join(
                          f"{s['quiet_by_gain'][g]['mean_p']:.3f}" for g in gains) + " |",
                      "| fraction P_max > 0.5 | " + " | ".join(
                          _rate_cell(s['quiet_by_gain'][g]) for g in gains) + " |"]
    if any("auc" in s for s in summary.values()):
        amps = list(next(s for s in summary.values() if "auc" in s)["recall_by_amplitude"])
        lines += ["", "Semi-real: injected vs quiet (AUC), and recall (P > 0.5) per peak "
                  "|LOS|:", "",
                  "| detector | AUC | AUC >= 2 cm | " + " | ".join(f"recall {a} cm"
                                                              for a in amps) + " |",
                  "| --- | --- | --- | " + " | ".join("---" for _ in amps) + " |"]
        for label, s in summary.items():
            if "auc" in s:
                cells = [_rate_cell(s["recall_by_amplitude"][a]) for a in amps]
                lines.append(f"| {label} | {_num(s['auc'])} | {_num(s['auc_min_2cm'])} | "
                             + " | ".join(cells) + " |")
        lines += ["", "Recall per peak |LOS| at one false-alarm rate (each detector's "
                  "threshold = the score that flags 5% of the quiet products; the FPR "
                  "column is what that threshold gives on them):", "",
                  "| detector | FPR | " + " | ".join(f"recall {a} cm" for a in amps) + " |",
                  "| --- | --- | " + " | ".join("---" for _ in amps) + " |"]
        for label, s in summary.items():
            if "recall_at_fixed_fpr" in s:
                fixed = s["recall_at_fixed_fpr"]
                cells = [_rate_cell(fixed["by_amplitude"][a]) for a in amps]
                lines.append(f"| {label} | {fixed['fpr']:.3f} | " + " | ".join(cells) + " |")
    calibrated = {label: s["reliability"] for label, s in summary.items()
                  if "reliability" in s}
    if calibrated:
        lines += ["", "Reliability (quiet products = 0, injected maps = 1; P in ten equal "
                  "bins: maps, mean P, fraction injected; ECE = expected calibration error, "
                  "Guo et al. 2017; figure `detection_reliability.png`). This run's mix is "
                  "not a calibration set's: four injected maps per drawn quiet epoch, at "
                  "1-4 cm, some below what any detector sees, so a calibrated P reads high "
                  "or low here by design; `insar-monitor calibrate --check-years` gives the "
                  "reliability on held-out maps drawn as the calibration's were:", "",
                  "| detector | ECE | " + " | ".join(f"{k / 10:.1f}-{(k + 1) / 10:.1f}"
                                                    for k in range(10)) + " |",
                  "| --- | --- | " + " | ".join("---" for _ in range(10)) + " |"]
        for label, rel in calibrated.items():
            by_lo = {round(b["lo"] * 10): b for b in rel["bins"]}
            cells = [f"{by_lo[k]['n']}: {by_lo[k]['mean_p']:.2f} / "
                     f"{by_lo[k]['positive_fraction']:.2f}" if k in by_lo else "-"
                     for k in range(10)]
            lines.append(f"| {label} | {rel['ece']:.3f} | " + " | ".join(cells) + " |")
    lines += ["", f"Run time {report['seconds']:.1f} s; every per-product score is in "
              "`detection_real.json`.", ""]
    return "\n".join(lines)
