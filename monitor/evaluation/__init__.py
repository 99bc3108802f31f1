"""Detector evaluations run by ``insar-monitor evaluate``: draw the images, score them with
every model, measure, write the reports.

Modules:
    runs        options shared by every evaluation, models side by side, setup
    grids       packaged DEMs on the evaluation grid (resampled, cropped, pooled)
    threshold   the detection-threshold protocol of Anantrasirichai et al. (2019b)
    roc         held-out ROC/AUC and atmosphere-only false positives
    atmosphere  tropospheric correction of flagged maps
    real        a detector on a real frame's quiet epochs, with injected sources
    series      the alert policy on synthetic daisy chains: delay against false alerts
    series_real the alert policy on a real frame with known events
    series_policy  the policy re-run over stored scores (threshold sweep, baseline)
    series_defaults  the defaults ``evaluate series`` offers (plain constants)

The measures themselves are pure and live in :mod:`monitor.science.detect.evaluation`
and :mod:`monitor.science.detect.atmosphere_eval`; the report files are written by
:mod:`monitor.io.reports` and :mod:`monitor.io.atmosphere_report`. Nothing here prints
results: each ``run_*`` returns the lines the command prints.
"""
