"""The text and markdown of ``evaluate series`` reports (synthetic curve, real frame).

Pure formatting of the JSON-ready reports of :mod:`monitor.evaluation.series` and
:mod:`monitor.evaluation.series_real`; the command prints the lines and writes the files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _num(value: float | None, fmt: str = ".0f", never: str = "never") -> str:
    return never if value is None else format(value, fmt)


def _per_year(block: dict[str, Any]) -> str:
    per = block["per_year"]
    return (f"{block['alerts']} in {block['years']:.1f} yr"
            + ("" if per is None else f" ({per:.2f}/yr)"))


def _operating(report: dict[str, Any]) -> dict[str, Any]:
    points = report["curve"] if "curve" in report else report["sweep"]
    return next(p for p in points if p["operating_point"])


def _quantiles(block: dict[str, Any] | None, fmt: str = ".0f") -> str:
    if block is None:
        return "-"
    return f"{_num(block['median'], fmt)} / {_num(block['p90'], fmt)}"


def synthetic_table(report: dict[str, Any]) -> list[str]:
    """Markdown table of every group at the operating point."""
    rows = ["| case | series | false alerts up to the onset | alerted (of the series with a "
            "coherent target) | delay, days (median / p90) | acquisitions after the first "
            "carrying it | cumulative, cm |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for g in _operating(report)["groups"]:
        quiet = g["kind"] == "quiet"
        rows.append(
            f"| {g['group']} | {g['n']} | {_per_year(g['false_alerts'])} | "
            f"{'-' if quiet else str(g['alerted']) + ' / ' + str(g['with_target'])} | "
            f"{'-' if quiet else _quantiles(g['delay_days'])} | "
            f"{'-' if quiet else _quantiles(g['delay_acquisitions'])} | "
            f"{'-' if quiet else _quantiles(g['cumulative_cm'], '.1f')} |")
    return rows


def _curve_groups(report: dict[str, Any]) -> list[tuple[str, float]]:
    """The deformation groups' (label, turbulence) in the curve's order."""
    first = report["curve"][0]["groups"]
    return [(g["group"], g["turbulence_cm"]) for g in first if g["kind"] != "quiet"]


def curve_table(report: dict[str, Any]) -> list[str]:
    """Markdown table of the sweep: one row per threshold, per turbulence the false alerts
    per volcano-year and each deformation group's median delay (days, cm)."""
    turbulences = sorted({t for _, t in _curve_groups(report)} | {
        float(t) for t in report["curve"][0]["false_alerts_by_turbulence"]})
    out: list[str] = []
    for t in turbulences:
        labels = [label for label, tt in _curve_groups(report) if tt == t]
        short = [label.split(", turbulence")[0] for label in labels]
        out += [f"Turbulence {t:g} cm: false alerts per volcano-year (quiet series and "
                "pre-onset epochs together) and median delay, days (cumulative cm)", "",
                "| z_watch | z_warning | false alerts / volcano-yr | "
                + " | ".join(short) + " |",
                "| --- | --- | --- | " + " | ".join("---" for _ in short) + " |"]
        for p in report["curve"]:
            fa = p["false_alerts_by_turbulence"][f"{t:g}"]["all"]
            by = {g["group"]: g for g in p["groups"]}
            cells = []
            for label in labels:
                g = by[label]
                days, cm = g["delay_days"]["median"], g["cumulative_cm"]["median"]
                cells.append("never" if days is None else f"{days:.0f} ({cm:.1f})")
            mark = " **(operating point)**" if p["operating_point"] else ""
            out.append(f"| {p['z_watch']:g}{mark} | {p['z_warning']:g} | "
                       f"{_num(fa['per_year'], '.2f', '-')} | " + " | ".join(cells) + " |")
        out.append("")
    return out


def synthetic_lines(report: dict[str, Any]) -> list[str]:
    """The summary the command prints for a synthetic run."""
    op = _operating(report)
    opts = report["options"]
    seeds = report["seeds"]
    fa = op["false_alerts"]
    lines = [
        f"evaluate series (synthetic): {len(report['cases'])} series scored by "
        f"{report['scored_with']}; seeds {seeds[0]}-{seeds[-1]}; DEMs "
        f"{', '.join(opts['dems'])}; {opts['size_px']} px of 0.001 deg; onset at epoch "
        f"{opts['onset_epoch']}; {report['seconds']['scoring']:.0f} s scoring, "
        f"{report['seconds']['policy']:.0f} s policy",
        f"operating point: trend_z_watch {op['z_watch']:g}, trend_z_warning "
        f"{op['z_warning']:g}: false alerts on quiet series {_per_year(fa['quiet'])}, "
        f"before the onset {_per_year(fa['pre_onset'])}",
        "", *synthetic_table(report), "", *curve_table(report)]
    return lines


def synthetic_markdown(report: dict[str, Any], png_name: str | None) -> str:
    """The markdown report of a synthetic run."""
    model = report["model"]
    head = [
        "# evaluate series: detection delay against false alerts (synthetic)", "",
        f"Scored by {report['scored_with']}; model "
        + ("none" if model is None else f"{model['arch']} (sha256 {model['sha256'][:12]})")
        + f"; code {report['code_version']}; seeds {report['seeds'][0]}-"
        f"{report['seeds'][-1]}.", "",
        "Options: " + ", ".join(f"`{k}` {v}" for k, v in report["options"].items()
                                if k not in ("model", "config") or v is not None) + ".", ""]
    if png_name:
        head += [f"![curve]({png_name})", ""]
    return "\n".join([*head, "## At the operating point", "", *synthetic_table(report), "",
                      "## The curve", "", *curve_table(report)]) + "\n"


def _alert_rows(alerts: Sequence[dict[str, Any]]) -> list[str]:
    rows = ["| epoch | level | new episode | fast path | in an event | reason |",
            "| --- | --- | --- | --- | --- | --- |"]
    rows += [f"| {a['epoch']} | {a['level']} | {'yes' if a['new_episode'] else ''} | "
             f"{'yes' if a['fast'] else ''} | {'yes' if a['in_event'] else ''} | "
             f"{a['reason']} |" for a in alerts]
    return rows


def _event_text(events: Sequence[dict[str, Any]]) -> list[str]:
    out = []
    for e in events:
        w = f"{e['window'][0]}:{e['window'][1]}"
        if e["alert"] is None:
            out.append(f"event {w} (first acquisition {e['first_acquisition']}): no alert")
        else:
            out.append(f"event {w} (first acquisition {e['first_acquisition']}): first alert "
                       f"{e['alert']['epoch']} ({e['alert']['level']}), delay "
                       f"{e['delay_days']} days, {e['delay_acquisitions']} acquisitions; "
                       f"{e['alerts_in_window']} alerts in the window")
    return out


def real_lines(report: dict[str, Any]) -> list[str]:
    """The summary the command prints for a real frame."""
    op, base = report["operating_point"], report["single_map_rule"]
    sig = report["quiet_signal"]
    lines = [
        f"evaluate series (real): frame {report['frame']}, {report['counts']['scored']} of "
        f"{report['counts']['listed']} epochs scored ({report['span'][0]} to "
        f"{report['span'][1]}), {report['counts']['skipped']} products skipped; "
        f"{report['seconds']:.0f} s",
        f"quiet epochs: bell amplitude noise "
        f"{_num(None if sig['bell_noise_m'] is None else 100 * sig['bell_noise_m'], '.2f')} "
        f"cm per epoch; step_m median "
        f"{_num(None if sig['step_m_median'] is None else 100 * sig['step_m_median'], '.1f')}"
        f" cm, max {_num(None if sig['step_m_max'] is None else 100 * sig['step_m_max'], '.1f')}"
        " cm",
        "", "the policy (operating point):",
        f"  false alerts outside the events: {_per_year(op['false_alerts'])}",
        *(f"  {t}" for t in _event_text(op["events"])),
        *(f"  ALERT {a['epoch']} {a['level']}{' new episode' if a['new_episode'] else ''}"
          f"{' fast' if a['fast'] else ''}{' (in event)' if a['in_event'] else ''}: "
          f"{a['reason']}" for a in op["alerts"]),
        "", "the single-map rule alone (time-series rule and fast path off):",
        f"  false alerts outside the events: {_per_year(base['false_alerts'])}",
        *(f"  {t}" for t in _event_text(base["events"])),
        *(f"  ALERT {a['epoch']} {a['level']}{' (in event)' if a['in_event'] else ''}: "
          f"{a['reason']}" for a in base["alerts"]),
        "", *sweep_table(report)]
    return lines


def sweep_table(report: dict[str, Any]) -> list[str]:
    """Markdown table of the real frame's sweep."""
    n = len(report["events"])
    rows = ["| z_watch | z_warning | false alerts outside the events | "
            + " | ".join(f"event {k + 1}: delay, days (acquisitions)" for k in range(n))
            + " |", "| --- | --- | --- | " + " | ".join("---" for _ in range(n)) + " |"]
    for p in report["sweep"]:
        mark = " **(operating point)**" if p["operating_point"] else ""
        cells = ["no alert" if e["delay_days"] is None
                 else f"{e['delay_days']} ({e['delay_acquisitions']})" for e in p["events"]]
        rows.append(f"| {p['z_watch']:g}{mark} | {p['z_warning']:g} | "
                    f"{_per_year(p['false_alerts'])} | " + " | ".join(cells) + " |")
    return rows


def real_markdown(report: dict[str, Any], png_name: str | None) -> str:
    """The markdown report of a real frame."""
    op, base = report["operating_point"], report["single_map_rule"]
    t = report["target"]
    model = report["model"]
    head = [
        f"# evaluate series: frame {report['frame']} ({report['archive']})", "",
        f"Target {t['lon']} E {t['lat']} N radius {t['radius_km']} km; events "
        + (", ".join(f"{a} to {b}" for a, b in report["events"]) or "none")
        + f"; {report['counts']['scored']} of {report['counts']['listed']} epochs scored "
        f"({report['span'][0]} to {report['span'][1]}); model {model['arch']} (sha256 "
        f"{model['sha256'][:12]}); code {report['code_version']}.", ""]
    if png_name:
        head += [f"![series]({png_name})", ""]
    return "\n".join([
        *head, "## The policy (operating point)", "",
        f"False alerts outside the events: {_per_year(op['false_alerts'])}.", "",
        *(f"- {t}" for t in _event_text(op["events"])), "", *_alert_rows(op["alerts"]), "",
        "## The single-map rule alone", "",
        f"False alerts outside the events: {_per_year(base['false_alerts'])}.", "",
        *(f"- {t}" for t in _event_text(base["events"])), "", *_alert_rows(base["alerts"]),
        "", "## The sweep of trend_z_watch", "", *sweep_table(report)]) + "\n"
