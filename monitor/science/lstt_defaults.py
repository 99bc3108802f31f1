"""Defaults and choices of the least-squares two-sample test (plain constants, no numpy).

:mod:`monitor.science.lstt` uses them; the command line shows them in its help without
loading numpy.
"""

from __future__ import annotations

#: Kernel centres of the density-ratio fit (lowered to the pooled sample size).
DEFAULT_CENTRES = 100
#: Random splits of the pooled samples behind the permutation p-value.
DEFAULT_PERMUTATIONS = 100
#: Splits on which sigma and lambda can be cross-validated.
SELECT_ON = ("random-split", "observed")
