"""Fuzzing of the readers that take what an archive serves (issue "Step 10").

Hypothesis drives today's public entry points with hostile input; each must give a valid
result or a typed :class:`~monitor.errors.MonitorError` (here :class:`RasterError`,
:class:`ArchiveError` and its :class:`BrokenProduct`), never another exception:

* the raster reader (:func:`monitor.io.rasters.read_raster`, GeoTIFF and ``.npy``) and the
  cache's check of a downloaded product (:func:`monitor.archive.cache.validate_product`):
  random bytes; valid GeoTIFFs written by rasterio and then truncated, with bytes flipped,
  or with a tag of their first IFD (width, height, bands, bits per sample, tile size,
  strip offsets and byte counts, compression) overwritten by a huge or absurd value;
  ``.npy`` files with their header mutated;
* the listing parser (:func:`monitor.archive.listing.parse_listing`): random text, random
  bytes decoded as the HTTP client decodes them, and HTML / Atom pages built from hostile
  hrefs; every entry it returns must have a safe name and an http(s) URL.

The examples are bounded (``max_examples`` ~200 each, no deadline, no example database)
so the module stays well under 30 s. A longer, coverage-guided run with atheris is
``bench/fuzz_atheris.py``; :func:`test_atheris_short_run` runs it for a few seconds where
atheris is installed.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterio.transform import from_origin

from faults.conftest import FaultTally
from monitor.archive.cache import validate_product
from monitor.archive.listing import NAME_RE, Listing, parse_listing
from monitor.errors import MonitorError
from monitor.io.rasters import Raster, read_raster, write_raster

ROOT = Path(__file__).resolve().parents[2]
FUZZ = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
#: TIFF tags of the first IFD that the mutations overwrite.
TIFF_TAGS = {"width": 256, "height": 257, "bits_per_sample": 258, "compression": 259,
             "strip_offsets": 273, "samples_per_pixel": 277, "rows_per_strip": 278,
             "strip_byte_counts": 279, "tile_width": 322, "tile_length": 323,
             "sample_format": 339}
HUGE = st.sampled_from([0, 1, 2, 3, 7, 8, 16, 17, 255, 256, 4096, 65535, 65536, 2**24,
                        2**31 - 1, 2**31, 2**32 - 1])
PAGE = "https://portal.example.org/frames/022/022D_04826_121209/interferograms/"


def _valid_tiffs() -> dict[str, bytes]:
    """Small valid GeoTIFFs (float32 deflate and plain, uint8, tiled) as bytes."""
    rng = np.random.default_rng(7)
    out = {}
    folder = Path(os.environ.get("TMPDIR", "/tmp"))
    for name, kwargs in {"f32_deflate": {}, "f32_plain": {"compress": None},
                         "u8": {"dtype": "uint8", "nodata": 0}}.items():
        data = rng.normal(size=(12, 16)).astype(np.float32)
        if name == "u8":
            data = (np.abs(data) * 60).astype(np.float32)
        path = folder / f"faults-fuzz-{os.getpid()}-{name}.tif"
        write_raster(path, data, crs="EPSG:4326",
                     transform=from_origin(120.0, 14.0, 0.001, 0.001), **kwargs)
        out[name] = path.read_bytes()
        path.unlink()
    return out


VALID = _valid_tiffs()


def _ifd_entries(blob: bytes) -> dict[int, int]:
    """Byte offset of each entry of the first IFD of a little-endian classic TIFF."""
    assert blob[:4] == b"II*\x00"
    (ifd,) = struct.unpack_from("<I", blob, 4)
    (count,) = struct.unpack_from("<H", blob, ifd)
    entries = {}
    for i in range(count):
        at = ifd + 2 + 12 * i
        (tag,) = struct.unpack_from("<H", blob, at)
        entries[tag] = at
    return entries


def _set_tag(blob: bytes, tag: int, value: int) -> bytes:
    """``blob`` with the value of ``tag`` (when present) overwritten (SHORT or LONG)."""
    entries = _ifd_entries(blob)
    if tag not in entries:
        return blob
    at = entries[tag]
    typ, count = struct.unpack_from("<HI", blob, at + 2)
    out = bytearray(blob)
    if typ == 3 and count <= 2:  # SHORT, stored in the entry
        struct.pack_into("<H", out, at + 8, value & 0xFFFF)
    elif typ == 4 and count == 1:  # LONG, stored in the entry
        struct.pack_into("<I", out, at + 8, value & 0xFFFFFFFF)
    else:  # an offset to an array: point it somewhere absurd instead
        struct.pack_into("<I", out, at + 8, value & 0xFFFFFFFF)
    return bytes(out)


def _read_or_typed_error(path: Path) -> Raster | MonitorError:
    try:
        raster = read_raster(path, max_pixels=1_000_000)
    except MonitorError as exc:
        return exc
    assert raster.data.dtype == np.float32 and raster.data.ndim == 2
    assert raster.data.size <= 1_000_000 and np.isfinite(raster.data).any()
    return raster


def _validate_or_typed_error(path: Path, kind: str) -> MonitorError | None:
    try:
        validate_product(path, kind, f"https://portal.example.org/{path.name}")
    except MonitorError as exc:
        return exc
    return None


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


mutation = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0.0, 1.0)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0.0, 1.0),
                                                  st.integers(1, 255)), min_size=1,
                                        max_size=8)),
    st.tuples(st.just("tag"), st.tuples(st.sampled_from(sorted(TIFF_TAGS)), HUGE)),
)


def _mutate(blob: bytes, how: tuple[str, object]) -> bytes:
    kind, arg = how
    if kind == "truncate":
        assert isinstance(arg, float)
        return blob[:int(len(blob) * arg)]
    if kind == "flip":
        out = bytearray(blob)
        assert isinstance(arg, list)
        for where, xor in arg:
            out[min(len(out) - 1, int(len(out) * where))] ^= xor
        return bytes(out)
    assert isinstance(arg, tuple)
    tag, value = arg
    return _set_tag(blob, TIFF_TAGS[tag], value)


@FUZZ
@given(base=st.sampled_from(sorted(VALID)), how=mutation,
       kind=st.sampled_from(["unw", "cc"]))
def test_mutated_geotiffs_read_or_fail_typed(scratch: Path, faults: FaultTally, base: str,
                                             how: tuple[str, object], kind: str) -> None:
    faults.bad_input(f"raster: mutated GeoTIFF ({how[0]})")
    path = scratch / "mutated.tif"
    path.write_bytes(_mutate(VALID[base], how))
    _read_or_typed_error(path)
    _validate_or_typed_error(path, kind)


@FUZZ
@given(blob=st.binary(max_size=4096),
       suffix=st.sampled_from([".tif", ".tiff", ".npy", ".gtiff", ""]),
       tiff_header=st.booleans())
def test_random_bytes_read_or_fail_typed(scratch: Path, faults: FaultTally, blob: bytes,
                                         suffix: str, tiff_header: bool) -> None:
    faults.bad_input("raster: random bytes")
    if tiff_header and suffix != ".npy":
        blob = b"II*\x00" + blob
    elif tiff_header:
        blob = b"\x93NUMPY\x01\x00" + blob
    path = scratch / f"random{suffix}"
    path.write_bytes(blob)
    _read_or_typed_error(path)
    _validate_or_typed_error(path, "unw")


def _npy(shape: tuple[int, ...], dtype: str) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ones(shape, dtype=dtype))
    return buf.getvalue()


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@FUZZ
@given(shape=st.lists(st.integers(0, 2**40), min_size=0, max_size=4),
       dtype=st.sampled_from(["<f4", "<f8", "<i2", "|u1", "|b1", "<c8", "|O", "<U3",
                              "|V8", "<M8[D]", "bogus"]),
       fortran=st.booleans(), cut=st.integers(0, 64))
def test_npy_with_a_mutated_header_reads_or_fails_typed(
        scratch: Path, faults: FaultTally, shape: list[int], dtype: str, fortran: bool,
        cut: int) -> None:
    faults.bad_input("raster: .npy with a mutated header")
    blob = _npy((3, 4), "<f4")
    (hlen,) = struct.unpack_from("<H", blob, 8)
    header = (f"{{'descr': '{dtype}', 'fortran_order': {fortran}, "
              f"'shape': {tuple(shape)!r}, }}").encode()
    header = header.ljust(hlen - 1) + b"\n" if len(header) < hlen else header + b"\n"
    mutated = blob[:8] + struct.pack("<H", len(header)) + header + blob[10 + hlen:]
    path = scratch / "mutated.npy"
    path.write_bytes(mutated[:len(mutated) - cut])
    _read_or_typed_error(path)


def _check_listing(listing: Listing) -> None:
    for entry in listing.entries:
        assert NAME_RE.match(entry.name) and entry.name not in (".", "..")
        assert entry.url.startswith(("http://", "https://")), entry.url
        assert urlsplit(entry.url).netloc, entry.url
        assert "/../" not in entry.url and "\\" not in entry.url


def _parse_or_typed_error(text: str, content_type: str = "") -> None:
    try:
        listing = parse_listing(text, PAGE, content_type)
    except MonitorError:
        return
    _check_listing(listing)


HREF_PARTS = st.sampled_from(["..", ".", "%2e%2e", "%2F", "%5c", "\\", "/", "//", "?C=N;O=D",
                              "#x", "javascript:", "file:///etc/passwd", "http://evil/",
                              "https://portal.example.org/", "http:", "https:",
                              "20240106_20240118/",
                              "20240106_20240118.geo.unw.tif", "\x00", "\n", "%00", "é",
                              ".hidden", "a b", "&amp;", "&#x2F;", "&lt;", '"', "'"])
HREFS = st.lists(HREF_PARTS, min_size=0, max_size=6).map("".join)


@FUZZ
@given(hrefs=st.lists(HREFS, max_size=8), atom=st.booleans(), noise=st.text(max_size=64))
def test_listing_pages_of_hostile_links_parse_safely(faults: FaultTally, hrefs: list[str],
                                                     atom: bool, noise: str) -> None:
    faults.bad_input("listing: page of hostile links")
    quote = {ord('"'): "&quot;", ord("&"): "&amp;", ord("<"): "&lt;"}
    if atom:
        links = "".join(f'<entry><link rel="enclosure" href="{h.translate(quote)}"/></entry>'
                        for h in hrefs)
        text = f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">{links}' \
               f'{noise.translate(quote)}</feed>'
    else:
        text = "<html><body>" + "".join(f'<a href="{h}">x</a>{noise}' for h in hrefs)
    _parse_or_typed_error(text, "application/atom+xml" if atom else "text/html")


@FUZZ
@given(text=st.text(max_size=2048), content_type=st.sampled_from(["", "text/html",
                                                                   "application/xml"]))
def test_random_listing_text_parses_safely(faults: FaultTally, text: str,
                                           content_type: str) -> None:
    faults.bad_input("listing: random text")
    _parse_or_typed_error(text, content_type)
    _parse_or_typed_error("<?xml version='1.0'?>" + text)
    _parse_or_typed_error("<feed>" + text)


@FUZZ
@given(blob=st.binary(max_size=2048), encoding=st.sampled_from(["utf-8", "latin-1",
                                                                "utf-16"]))
def test_random_listing_bytes_parse_safely(faults: FaultTally, blob: bytes,
                                           encoding: str) -> None:
    faults.bad_input("listing: random bytes")
    # As the HTTP client decodes a body (licsar_http: errors="replace").
    _parse_or_typed_error(blob.decode(encoding, errors="replace"))


def _rejected_alone(href: str, atom: bool) -> None:
    """``href`` on an Atom feed or an index page (beside a good link) is rejected, named,
    and nothing unsafe is listed."""
    if atom:
        text = ('<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry>'
                f'<link rel="enclosure" href="{href}"/></entry></feed>')
    else:
        text = f'<html><a href="{href}">x</a><a href="20240106_20240118/">y</a></html>'
    listing = parse_listing(text, PAGE)
    assert [h for h, _ in listing.rejected] == [href]
    _check_listing(listing)


#: Found by atheris before the listing's link validation handled it: an href whose host
#: holds an unbalanced "[" or "]" made urllib.parse.urlsplit raise a bare
#: ValueError("Invalid IPv6 URL") out of parse_listing instead of the link being rejected
#: (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">'
#: b'<entry><link rel="enclosure" href="https://portal.]xample.org/a/b.geo.unw.tif"/>'
#: b'</entry></feed>'). Kept as regression cases.


@pytest.mark.parametrize("href", ["https://portal.]xample.org/a/b.geo.unw.tif",
                                  "http://[::1/20240106_20240118/", "//[bad/x.tif"])
@pytest.mark.parametrize("atom", [False, True], ids=["html", "atom"])
def test_a_bracket_in_a_link_host_is_rejected_not_raised(faults: FaultTally, href: str,
                                                         atom: bool) -> None:
    faults.bad_input("listing: bracket in a link's host")
    _rejected_alone(href, atom)


#: Found by atheris too: an absolute href of the other scheme without "//"
#: ("http:s//portal.example.org/a/b.geo.unw.tif" on an https page) is, to urljoin, a
#: relative path with a scheme, so it came back unresolved as a URL with no host. A link
#: with a scheme and no host is now rejected, and every resolved link must have a host.


@pytest.mark.parametrize("href", ["http:s//portal.example.org/a/b.geo.unw.tif",
                                  "https:20240106_20240118/", "http:20240106_20240118.tif",
                                  "http:///20240106_20240118/"])
@pytest.mark.parametrize("atom", [False, True], ids=["html", "atom"])
def test_a_link_with_a_scheme_and_no_host_is_rejected(faults: FaultTally, href: str,
                                                      atom: bool) -> None:
    faults.bad_input("listing: scheme without a host")
    _rejected_alone(href, atom)


@pytest.mark.parametrize("target", ["listing", "raster"])
def test_atheris_short_run(tmp_path: Path, faults: FaultTally, target: str) -> None:
    """A few seconds of coverage-guided fuzzing (bench/fuzz_atheris.py) of one target."""
    pytest.importorskip("atheris", reason="atheris is not installed (it ships wheels for "
                                          "Linux x86_64 only)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fuzz_atheris.py"), target,
         "--runs", "1500", "--max-time-s", "3", "--workdir", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    runs = [line for line in proc.stderr.splitlines() if "Done " in line]
    executed = int(runs[-1].split("Done ")[1].split()[0]) if runs else 0
    faults.bad_input(f"{target}: atheris inputs", executed)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
