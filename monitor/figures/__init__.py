"""Every figure the monitor draws, in one room (matplotlib, Agg backend).

- :mod:`monitor.figures.style`: the backend, shared colours and the PNG writers; the only
  module that selects a matplotlib backend.
- :mod:`monitor.figures.alert`: the quicklook PNG attached to alert e-mail.
- :mod:`monitor.figures.history`: a target's history on the status page.
- :mod:`monitor.figures.demo`: the demo's series figure (relief, last map, target history).
- :mod:`monitor.figures.evaluation`: the detector evaluation figures (thresholds, ROC).

Figures are drawn on :class:`matplotlib.figure.Figure` objects, never through pyplot, so no
global figure state is kept between calls (the daemon draws one per alert for months).
"""
