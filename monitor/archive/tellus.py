"""Archive adapter for ALOS-2 PALSAR-2 through a Tellus-style search API (step 12).

The archive holds scenes (PALSAR-2 L1.1 products), not interferograms: the adapter finds
the scenes of a watched frame (:mod:`monitor.archive.tellus_api`), pairs them
(:mod:`monitor.archive.tellus_pairs`: same path, frame, beam, mode and polarisation, a
daisy chain plus ``extra_pairs``, at most ``max_gap_days`` apart), downloads the two
scenes of a pair into the cache with resume and checksum (:mod:`monitor.archive.resumable`)
and hands their directories to a product-making hook, ``make_product(primary_dir,
secondary_dir, out_dir, request) -> (unw_path, cc_path[, provenance_path])`` (the
:class:`PairRequest` names the frame, the pair, the polarisation and the lon/lat box to
process): the interferometry chain (:class:`monitor.archive.tellus_products.Palsar2Maker`),
which writes the LiCSAR product format (unwrapped phase in radians, GeoTIFF, and
coherence). Without a hook, :meth:`TellusArchive.fetch` raises "interferometry not
available" before downloading anything. The products are then decoded like LiCSAR's with
the wavelength their phase file records (tag ``WAVELENGTH_M``: the scene's, e.g. 0.2424525 m
for a real leader) and sign -1; the nominal ALOS-2 0.2384 m only when it records none.

Cache layout, under ``watch.cache_dir``: ``<frame>/scenes/<dataset_id>/<file>`` (a zip is
also extracted beside itself, into ``<dataset_id>/<zip name without .zip>/``) and
``<frame>/<d1>_<d2>/<d1>_<d2>.geo.unw.tif`` / ``.geo.cc.tif`` (and the hook's
``<d1>_<d2>.provenance.json``). A product's URL, as the
store records it, names its two scenes: ``urn:tellus:palsar2-l11:<id1>:<id2>``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import requests

from monitor.archive import cache, resumable
from monitor.archive.cursor import products_since
from monitor.archive.licsar_products import decode_licsar_product
from monitor.archive.listing import validate_name
from monitor.archive.tellus_api import SceneFile, TellusClient
from monitor.archive.tellus_pairs import ScenePair, parse_frame_id, select_pairs
from monitor.domain import (
    DecodedProduct,
    FetchedProduct,
    FrameMetadata,
    ProductRef,
    RemoteFile,
)
from monitor.errors import (
    ArchiveError,
    BrokenProduct,
    DatasetError,
    InputError,
    RasterError,
)
from monitor.io.licsar import DELAY_SUFFIXES, check_delay_kinds
from monitor.io.palsar2_product import read_product_tags
from monitor.io.raster_header import DEFAULT_MAX_BYTES
from monitor.science.crop import PixelWindow
from monitor.science.geometry import ALOS2, Sensor

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class PairRequest:
    """What the interferometry hook is asked to make.

    Attributes:
        frame: The PALSAR-2 frame (``P018F2900``).
        pair: ``<d1>_<d2>``, the acquisition dates the search gave.
        primary_id: The earlier scene's dataset id.
        secondary_id: The later scene's.
        polarisation: The image files downloaded (``HH``...).
        area: ``(lon_min, lat_min, lon_max, lat_max)`` to process in this frame, degrees
            (the targets' crops there), or None when the archive was given none.
    """

    frame: str
    pair: str
    primary_id: str
    secondary_id: str
    polarisation: str
    area: tuple[float, float, float, float] | None


#: The interferometry hook: the two scenes' directories (primary first), a directory to
#: write into and the :class:`PairRequest`; returns the unwrapped phase (radians) and
#: coherence GeoTIFFs it wrote there in the LiCSAR product format, optionally followed by
#: a provenance JSON installed beside them.
ProductMaker = Callable[[Path, Path, Path, PairRequest], tuple[Path, ...]]
#: A product's URL: the pair of scene ids it is made from.
PAIR_URN_PREFIX = "urn:tellus:palsar2-l11:"
_URN_RE = re.compile(r"^urn:tellus:palsar2-l11:([A-Za-z0-9][A-Za-z0-9._-]*):"
                     r"([A-Za-z0-9][A-Za-z0-9._-]*)$")
#: CEOS files of an L1.1 product: volume directory, leader, trailer, image (per pol).
_CEOS_PREFIXES = ("VOL-", "LED-", "TRL-")


def pair_urn(pair: ScenePair) -> str:
    """The URL the store records for a product: ``urn:tellus:palsar2-l11:<id1>:<id2>``."""
    return f"{PAIR_URN_PREFIX}{pair.primary.dataset_id}:{pair.secondary.dataset_id}"


def scenes_of(ref: ProductRef) -> tuple[str, str]:
    """The two scene ids a product is made from (primary, secondary).

    Raises:
        ArchiveError: ``ref`` was not listed by a tellus archive.
    """
    m = _URN_RE.match(ref.unw.url)
    if m is None:
        raise ArchiveError(f"product {ref.frame} {ref.pair}: {ref.unw.url!r} is not a tellus "
                           f"pair ({PAIR_URN_PREFIX}<id1>:<id2>); was it listed by another "
                           "archive?")
    return m.group(1), m.group(2)


def wanted_files(files: Sequence[SceneFile], polarisation: str) -> list[SceneFile]:
    """The files of a scene the interferometry needs: a zip of the product, or its volume,
    leader and trailer files and the image file of ``polarisation``."""
    image = f"IMG-{polarisation}-"
    return [f for f in files
            if f.name.lower().endswith(".zip") or f.name.startswith((*_CEOS_PREFIXES, image))]


def extract_zip(archive: Path, dest: Path, max_bytes: int) -> Path:
    """Extract a downloaded product zip into ``dest`` (atomically: a temporary directory
    renamed), unless already there.

    Raises:
        BrokenProduct: not a zip, a member outside the directory, or more than
            ``max_bytes`` once extracted (a zip bomb).
    """
    if dest.is_dir():
        return dest
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            total = sum(m.file_size for m in members)
            if total > max_bytes:
                raise BrokenProduct(f"{archive}: the zip holds {total:,} bytes, more than "
                                    f"max_product_bytes = {max_bytes:,}; not extracted")
            for m in members:
                parts = Path(m.filename).parts
                if m.filename.startswith(("/", "\\")) or ".." in parts or ":" in m.filename:
                    raise BrokenProduct(f"{archive}: member {m.filename!r} would land outside "
                                        "its directory; not extracted")
            tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.{os.getpid()}.", suffix=".tmp",
                                        dir=dest.parent))
            try:
                zf.extractall(tmp)
                os.replace(tmp, dest)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise BrokenProduct(f"{archive}: not a readable zip ({exc}); not extracted") from None
    return dest


class TellusArchive:
    """ALOS-2 PALSAR-2 pairs made from a Tellus-style scene archive.

    Args:
        base_url: API root (``https://file.tellusxdp.com/api/v1/origin``).
        token_env: Environment variable holding the API token.
        polarisation: Polarisation paired (``HH`` ...).
        beam: Beam number watched (None: the frame's only one).
        mode: Observation mode watched (None: the frame's only one).
        max_gap_days: Longest pair, days.
        extra_pairs: Pairs per scene besides the daisy chain's.
        areas: Per frame, ``(lon_min, lat_min, lon_max, lat_max)`` of what is watched
            there (the targets' discs), sent as the search's bounding box; frames without
            one are searched by path and frame number only.
        process_areas: Per frame, the box the interferometry processes (the targets'
            crops; default ``areas``), handed to the hook in the :class:`PairRequest`.
        make_product: The interferometry hook (None: :meth:`fetch` raises "interferometry
            not available").
        environ: Where the token is read (default ``os.environ``).
        timeout_s: ``(connect, read)`` timeouts, seconds.
        retries: Extra attempts after a transient failure.
        backoff_s: First backoff, seconds.
        session: A ``requests.Session`` (a new one by default).
        sleep: Called with each backoff (tests pass a no-op).
        deadline_s: Total time for one scene file per fetch, seconds; what arrived is kept
            and resumed at the next poll.
        listing_deadline_s: Total time for one search page or file list, seconds.
        max_listing_bytes: Largest JSON answer, bytes.
        max_product_bytes: Largest scene file (and extracted zip), bytes.
        max_pages: Most search pages of one listing.
        allowed_hosts: Hosts besides the base URL's that links and file URLs may use.
        max_retry_after_s: Longest ``Retry-After`` waited for, seconds.
        max_bytes: Memory budget of one decoded product (``[rasters] max_bytes``).
        keep_scenes: Keep every downloaded scene (False: :meth:`prune_scenes` after each
            product made).
    """

    name = "tellus"
    wavelength_m: float = ALOS2.wavelength_m
    phase_sign: int = ALOS2.phase_sign

    def __init__(self, base_url: str, *, token_env: str = "TELLUS_TOKEN",
                 polarisation: str = "HH", beam: str | None = None, mode: str | None = None,
                 max_gap_days: int = 365, extra_pairs: int = 1,
                 areas: Mapping[str, tuple[float, float, float, float]] | None = None,
                 process_areas: Mapping[str, tuple[float, float, float, float]] | None = None,
                 make_product: ProductMaker | None = None,
                 environ: Mapping[str, str] | None = None,
                 timeout_s: tuple[float, float] = (5.0, 60.0), retries: int = 3,
                 backoff_s: float = 1.0, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, deadline_s: float = 120.0,
                 listing_deadline_s: float = 30.0, max_listing_bytes: int = 8 * 1024 * 1024,
                 max_product_bytes: int = 512 * 1024 * 1024, max_pages: int = 100,
                 allowed_hosts: Sequence[str] = (), max_retry_after_s: float = 60.0,
                 max_bytes: int = DEFAULT_MAX_BYTES, keep_scenes: bool = False) -> None:
        if max_gap_days < 1 or extra_pairs < 0 or deadline_s <= 0 or max_product_bytes <= 0:
            raise InputError(f"tellus archive: max_gap_days={max_gap_days}, extra_pairs="
                             f"{extra_pairs}, deadline_s={deadline_s}, max_product_bytes="
                             f"{max_product_bytes}: expected positive values (extra_pairs "
                             ">= 0)")
        self.client = TellusClient(
            base_url, token_env=token_env, environ=environ, timeout_s=timeout_s,
            retries=retries, backoff_s=backoff_s, session=session, sleep=sleep,
            listing_deadline_s=listing_deadline_s, max_listing_bytes=max_listing_bytes,
            max_pages=max_pages, allowed_hosts=allowed_hosts,
            max_retry_after_s=max_retry_after_s)
        self.polarisation = polarisation
        self.beam = beam
        self.mode = mode
        self.max_gap_days = max_gap_days
        self.extra_pairs = extra_pairs
        self.areas = dict(areas or {})
        self.process_areas = dict(process_areas if process_areas is not None else self.areas)
        self.make_product = make_product
        self.deadline_s = deadline_s
        self.max_product_bytes = max_product_bytes
        self.max_bytes = max_bytes
        self.keep_scenes = keep_scenes
        #: Acquisition date of each scene id seen in a listing, per frame (for pruning).
        self._scene_dates: dict[str, dict[str, date]] = {}

    # -- listing ------------------------------------------------------------------------------

    def _frame(self, frame: str) -> tuple[int, int]:
        try:
            return parse_frame_id(frame)
        except InputError as exc:
            raise ArchiveError(f"archive {self.client.base_url}: {exc}") from None

    def list_products(self, frame: str, since: date | None = None) -> list[ProductRef]:
        """The pairs of ``frame`` whose second date is after ``since``.

        The search asks for the scenes from ``since - max_gap_days`` on (every scene when
        ``since`` is None), within the frame's area when known, and with the frame's path,
        frame number, beam and mode as query parameters; what comes back is filtered and
        paired here whatever the server did with them.

        Raises:
            ArchiveUnavailable: the archive cannot be reached after the retries.
            ArchiveError: not a PALSAR-2 frame id, the token missing or refused, a search
                answer that is not the expected JSON, or a frame seen in several beams or
                modes with neither configured.
        """
        path, number = self._frame(frame)
        after = None
        if since is not None:
            gap = timedelta(days=self.max_gap_days)
            after = since - gap if since - date.min > gap else date.min
        filters: dict[str, str | int] = {"path_number": path, "frame_number": number}
        if self.beam is not None:
            filters["beam_number"] = self.beam
        if self.mode is not None:
            filters["mode"] = self.mode
        scenes = self.client.search(bbox=self.areas.get(frame), after=after, filters=filters)
        pairs = select_pairs(scenes, path=path, frame=number, polarisation=self.polarisation,
                             max_gap_days=self.max_gap_days, beam=self.beam, mode=self.mode,
                             extra_pairs=self.extra_pairs, since=since)
        refs = []
        dates = self._scene_dates.setdefault(frame, {})
        for pair in pairs:
            d1, d2 = pair.primary.acquired, pair.secondary.acquired
            dates[pair.primary.dataset_id], dates[pair.secondary.dataset_id] = d1, d2
            name = f"{d1:%Y%m%d}_{d2:%Y%m%d}"
            urn = pair_urn(pair)
            refs.append(ProductRef(frame, d1, d2, RemoteFile(urn, f"{name}.geo.unw.tif"),
                                   RemoteFile(urn, f"{name}.geo.cc.tif")))
        return products_since(refs, since)

    # -- scenes -------------------------------------------------------------------------------

    def fetch_scene(self, frame: str, dataset_id: str, cache_dir: Path) -> Path:
        """Download one scene's files (resumed, verified) into
        ``<cache_dir>/<frame>/scenes/<dataset_id>/`` and extract a zip there.

        Returns:
            The scene's directory.

        Raises:
            ArchiveUnavailable: the archive failed after the retries (what arrived is kept
                for the next poll).
            BrokenProduct: a file does not match its checksum or size, a zip is unreadable,
                or the scene has no image file of the configured polarisation.
            ArchiveError: an HTTP error, a file list that is not the expected JSON.
        """
        scene_dir = cache.frame_file_path(Path(cache_dir), frame, "scenes", dataset_id)
        files = self.client.scene_files(dataset_id)
        wanted = wanted_files(files, self.polarisation)
        zips = [f for f in wanted if f.name.lower().endswith(".zip")]
        if not zips and not any(f.name.startswith(f"IMG-{self.polarisation}-") for f in wanted):
            raise BrokenProduct(
                f"{self.client.files_url(dataset_id)}: scene {dataset_id} lists no zip and no "
                f"IMG-{self.polarisation}-* image file (files: "
                f"{', '.join(f.name for f in files)[:300]}); check polarisation")
        for f in wanted:
            final = scene_dir / validate_name(f.name, self.client.files_url(dataset_id))
            resumable.download(f.url, final, open_get=self.client.get_file,
                               retrying=self.client.retrying, deadline_s=self.deadline_s,
                               max_bytes=self.max_product_bytes, size_bytes=f.size_bytes,
                               checksum=f.checksum)
            if f in zips:
                extract_zip(final, scene_dir / final.name[:-len(".zip")],
                            self.max_product_bytes)
        return scene_dir

    # -- products -----------------------------------------------------------------------------

    def request(self, ref: ProductRef) -> PairRequest:
        """What the hook is asked to make for ``ref``."""
        id1, id2 = scenes_of(ref)
        return PairRequest(ref.frame, ref.pair, id1, id2, self.polarisation,
                           self.process_areas.get(ref.frame))

    def _cached(self, ref: ProductRef, unw: Path, cc: Path) -> FetchedProduct | None:
        """The product already made for this pair, when both files are intact."""
        digests = []
        for path in (unw, cc):
            side = cache.read_sidecar(path) if path.is_file() else None
            if side is None or side.url != ref.unw.url or cache.sha256_file(path) != side.sha256:
                return None
            digests.append(side.sha256)
        return FetchedProduct(ref, str(unw), str(cc), digests[0],
                              {"unw_url": ref.unw.url, "cc_sha256": digests[1]})

    def fetch(self, ref: ProductRef, cache_dir: Path) -> FetchedProduct:
        """Download the pair's two scenes and make its product with the hook.

        Raises:
            ArchiveError: no interferometry hook ("interferometry not available": nothing
                is downloaded), an HTTP error, or a hook that wrote outside its directory.
            ArchiveUnavailable: the archive failed after the retries (retried later).
            BrokenProduct: a scene file broken, the interferometry refusing the scenes
                (a malformed CEOS file, scenes that do not overlap, an incoherent pair:
                ``InputError``, ``DatasetError``, ``RasterError`` of the hook), or a product
                that is not a usable raster (nothing installed).
            ProcessingError: the hook failed in a way that may pass (SNAPHU crashed):
                retried.
        """
        id1, id2 = scenes_of(ref)
        if self.make_product is None:
            raise ArchiveError(
                f"product {ref.frame} {ref.pair} (scenes {id1}, {id2}): interferometry not "
                "available: this tellus archive was built without the PALSAR-2 processing "
                "chain (make_product), so no interferogram can be made; nothing was "
                "downloaded")
        cache_dir = Path(cache_dir)
        unw_final = cache.cache_path(cache_dir, ref, ref.unw.name)
        cc_final = cache.cache_path(cache_dir, ref, f"{ref.pair}.geo.cc.tif")
        cached = self._cached(ref, unw_final, cc_final)
        if cached is not None:
            log.debug("tellus product %s %s: cached copy kept", ref.frame, ref.pair)
            return cached
        primary = self.fetch_scene(ref.frame, id1, cache_dir)
        secondary = self.fetch_scene(ref.frame, id2, cache_dir)
        unw_final.parent.mkdir(parents=True, exist_ok=True)
        out = Path(tempfile.mkdtemp(prefix=f".{ref.pair}.{os.getpid()}.", suffix=".tmp",
                                    dir=unw_final.parent))
        try:
            try:
                made = self.make_product(primary, secondary, out, self.request(ref))
            except (InputError, DatasetError, RasterError) as exc:
                raise BrokenProduct(f"product {ref.frame} {ref.pair} (scenes {id1}, {id2}): "
                                    f"the interferometry refused the scenes: {exc}") from None
            if len(made) not in (2, 3):
                raise ArchiveError(f"product {ref.frame} {ref.pair}: make_product returned "
                                   f"{len(made)} paths; expected (unw, cc[, provenance])")
            for path in made:
                path = Path(path)
                if not path.resolve().is_relative_to(out.resolve()) or not path.is_file():
                    raise ArchiveError(f"product {ref.frame} {ref.pair}: make_product "
                                       f"returned {path}, not a file it wrote under {out}")
            digests = []
            for path, kind, final in zip(made[:2], ("unw", "cc"), (unw_final, cc_final),
                                         strict=True):
                path = Path(path)
                cache.validate_product(path, kind, ref.unw.url, self.max_bytes)
                digests.append((path, final, cache.sha256_file(path)))
            if len(made) == 3:  # the provenance first: the product files mark completion
                cache.install(Path(made[2]), cache.cache_path(
                    cache_dir, ref, f"{ref.pair}.provenance.json"))
            for path, final, digest in digests:
                cache.install(path, final)
                cache.write_sidecar(final, cache.Sidecar(ref.unw.url, final.stat().st_size,
                                                         None, digest))
        finally:
            shutil.rmtree(out, ignore_errors=True)
        if not self.keep_scenes:
            self.prune_scenes(ref.frame, ref.date2, cache_dir)
        return FetchedProduct(ref, str(unw_final), str(cc_final), digests[0][2],
                              {"unw_url": ref.unw.url, "cc_sha256": digests[1][2],
                               "scenes": f"{id1},{id2}"})

    def prune_scenes(self, frame: str, made_until: date, cache_dir: Path) -> list[Path]:
        """Delete the frame's cached scenes acquired more than ``max_gap_days`` before
        ``made_until`` (the second date of the newest product made): a pair after it cannot
        use them. Scenes of unknown date (not in a listing of this process) are kept; a
        scene deleted and needed again (a pair made again) is downloaded again.

        Returns:
            The scene directories deleted.
        """
        dates = self._scene_dates.get(frame, {})
        scenes = cache.frame_file_path(Path(cache_dir), frame, "scenes")
        if not scenes.is_dir():
            return []
        oldest_kept = made_until - timedelta(days=self.max_gap_days)
        removed = []
        for scene_dir in sorted(p for p in scenes.iterdir() if p.is_dir()):
            acquired = dates.get(scene_dir.name)
            if acquired is None or acquired >= oldest_kept:
                continue
            try:
                shutil.rmtree(scene_dir)
            except OSError as exc:
                log.warning("tellus frame %s: cannot delete the scene %s: %s", frame,
                            scene_dir, exc)
                continue
            removed.append(scene_dir)
        if removed:
            log.info("tellus frame %s: deleted %d scene(s) acquired before %s (no later pair "
                     "uses them; keep_scenes = true keeps them)", frame, len(removed),
                     oldest_kept)
        return removed

    def sensor_of(self, fetched: FetchedProduct) -> Sensor:
        """The wavelength and sign a product's phase file records (tags ``WAVELENGTH_M``,
        ``PHASE_SIGN``); the nominal ALOS-2 values (0.2384 m, -1) for what it does not
        record, with a warning (a real scene's carrier may differ by 2 %: its leader gave
        0.2424525 m).

        Raises:
            RasterError: the file cannot be read, or its tags are not a wavelength and sign.
        """
        wavelength, sign = read_product_tags(fetched.unw_path)
        if wavelength is None:
            log.warning("tellus product %s %s: %s records no wavelength (tag WAVELENGTH_M); "
                        "decoded with the nominal ALOS-2 %s m", fetched.ref.frame,
                        fetched.ref.pair, fetched.unw_path, ALOS2.wavelength_m)
        return Sensor(ALOS2.name, wavelength or ALOS2.wavelength_m,
                      ALOS2.phase_sign if sign is None else sign)

    def decode(self, fetched: FetchedProduct, max_pixels: int,
               window: PixelWindow | None = None) -> DecodedProduct:
        """The product (``window`` of it, when given) in LOS metres and coherence 0-1: the
        LiCSAR decoder with the wavelength and sign the product records
        (:meth:`sensor_of`)."""
        return decode_licsar_product(fetched, max_pixels, self.sensor_of(fetched),
                                     max_bytes=self.max_bytes, window=window)

    def fetch_metadata(self, frame: str, cache_dir: Path) -> FrameMetadata:
        """A PALSAR-2 frame has no published height, LOS up or ``metadata.txt`` files: all
        None (the series grid comes from the first product)."""
        self._frame(frame)
        return FrameMetadata(frame, None, None, None)

    def fetch_epoch_delays(self, frame: str, epoch: date, cache_dir: Path,
                           kinds: Sequence[str] = tuple(DELAY_SUFFIXES)) -> dict[str, str]:
        """No weather-model delays are published for PALSAR-2 scenes: ``{}`` (the second
        look falls back to the empirical correction)."""
        self._frame(frame)
        check_delay_kinds(kinds)
        return {}
