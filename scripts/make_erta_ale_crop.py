"""Make the real-data fixture ``tests/data/erta_ale_014A/``: a block of time of a real
LiCSAR-layout archive of Erta Ale, for the tests that must hold on real interferograms.

Copies, unchanged, the interferogram pairs of frame ``014A_07688_131313`` whose two dates
lie in ``[--first, --last]`` and the frame's height file, and writes the provenance
(``README.md``) beside them. Run from the repository root, pointing ``--source`` at the
archive's root (the folder that holds ``014A_07688_131313/``):

    .venv/bin/python scripts/make_erta_ale_crop.py --source ARCHIVE_ROOT
"""

from __future__ import annotations

import argparse
import shutil
from datetime import date, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FRAME = "014A_07688_131313"

PROVENANCE = """# Erta Ale, Sentinel-1 track 014A: a real block of time ({first} to {last})

Made by `scripts/make_erta_ale_crop.py` (files copied unchanged).

- What: Erta Ale (Ethiopia, 13.60 N 40.67 E), Sentinel-1 ascending track 014A, frame
  `014A_07688_131313`, clipped to 181 x 185 pixels of 0.001 degree (about 20 x 20 km);
  {n} consecutive pairs from {first} to {last}, in the LiCSAR layout.
- Values: LiCSBAS incremental line-of-sight displacement between consecutive epochs
  (inverted from a redundant network and referenced), written as LiCSAR products:
  `interferograms/<d1>_<d2>/<d1>_<d2>.geo.unw.tif` in radians with LiCSAR's sign
  (positive phase = away from the satellite; wavelength 0.05546576 m), 0 where there is
  no data, and `.geo.cc.tif` as uint8 (200 where valid, 0 where not: the source has no
  per-pair coherence). `metadata/014A_07688_131313.geo.hgt.tif`: the frame's DEM, metres.
  GeoTIFF, EPSG:4326, DEFLATE.
- Events: the dyke intrusion of late January 2017 south-east of the summit is first seen
  in this track in the last pair, `20170111_20170204` (about 17 cm of LOS in a 3 km
  disc on the summit). The pairs before it hold no catalogued deformation at this
  volcano: real atmosphere, noise and processing residuals.
- Source: the data files published with the LiCSAlert web viewer (COMET), derived from
  COMET LiCSAR products of Copernicus Sentinel-1 data (ESA). Cite: Lazecky et al. (2020),
  LiCSAR: an automatic InSAR tool for measuring and monitoring tectonic and volcanic
  activity, Remote Sensing 12(15), 2430, doi:10.3390/rs12152430; Morishita et al. (2020),
  LiCSBAS, Remote Sensing 12(3), 424, doi:10.3390/rs12030424; Gaddes et al. (2019), Blind
  signal separation methods for InSAR: the potential to automatically detect and monitor
  signals of volcanic deformation, JGR Solid Earth 124, doi:10.1029/2018JB016210.
"""


def _day(text: str) -> date:
    return datetime.strptime(text, "%Y%m%d").date()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, required=True,
                        help="archive root holding 014A_07688_131313/")
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "data" / "erta_ale_014A")
    parser.add_argument("--first", default="20160117", help="first date, YYYYMMDD")
    parser.add_argument("--last", default="20170204", help="last date, YYYYMMDD")
    args = parser.parse_args()
    first, last = _day(args.first), _day(args.last)
    src = args.source / FRAME
    out = args.out / FRAME
    if out.exists():
        shutil.rmtree(out)
    pairs = []
    for pair_dir in sorted((src / "interferograms").iterdir()):
        d1, d2 = (_day(t) for t in pair_dir.name.split("_"))
        if first <= d1 and d2 <= last:
            shutil.copytree(pair_dir, out / "interferograms" / pair_dir.name)
            pairs.append(pair_dir.name)
    (out / "metadata").mkdir(parents=True)
    shutil.copy2(src / "metadata" / f"{FRAME}.geo.hgt.tif", out / "metadata")
    (args.out / "README.md").write_text(PROVENANCE.format(first=first, last=last,
                                                          n=len(pairs)), encoding="utf-8")
    print(f"{len(pairs)} pairs -> {out}")


if __name__ == "__main__":
    main()
