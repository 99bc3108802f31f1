"""Detector evaluations run by ``insar-monitor evaluate``: draw the images, score them with
every model, measure, write the reports.

Modules:
    runs        options shared by every evaluation, models side by side, setup
    grids       packaged DEMs on the evaluation grid (resampled, cropped, pooled)
    threshold   the detection-threshold protocol of Anantrasirichai et al. (2019b)
    roc         held-out ROC/AUC and atmosphere-only false positives
    atmosphere  tropospheric correction of flagged maps

The measures themselves are pure and live in :mod:`monitor.science.detect.evaluation`
and :mod:`monitor.science.detect.atmosphere_eval`; the report files are written by
:mod:`monitor.io.reports` and :mod:`monitor.io.atmosphere_report`. Nothing here prints
results: each ``run_*`` returns the lines the command prints.
"""
