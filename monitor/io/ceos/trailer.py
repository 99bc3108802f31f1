"""The trailer file (``TRL-``) of an ALOS-2 PALSAR-2 CEOS product: a file descriptor and
the low-resolution image it announces (whose size is checked, not read).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from monitor.io.ceos import layouts
from monitor.io.ceos.scan import expect_end, read_file, record_at


@dataclass(frozen=True)
class Trailer:
    """The trailer file (``TRL-``): its low-resolution image's size.

    Attributes:
        path: The file.
        low_resolution_shape: ``(lines, pixels)`` of the low-resolution image, or None.
        low_resolution_bytes: Bytes per pixel of that image.
    """

    path: Path
    low_resolution_shape: tuple[int, int] | None
    low_resolution_bytes: int


def read_trailer(path: str | Path) -> Trailer:
    """Parse a trailer file: its file descriptor, and the size of what follows it.

    Raises:
        CeosError: Bad descriptor, or a file whose size is not the descriptor's.
    """
    path = Path(path)
    data = read_file(path, "trailer")
    fd = record_at(path, data, 0, 1, layouts.TRAILER_DESCRIPTOR)
    n = fd.integer("n_low_resolution")
    if n == 0:
        expect_end(path, data, len(fd.raw), "trailer file descriptor")
        return Trailer(path=path, low_resolution_shape=None, low_resolution_bytes=0)
    if n != 1:
        raise fd.error("n_low_resolution", f"{n} low-resolution images, this reader knows "
                       "the layout of one", "use an ALOS-2 PALSAR-2 product")
    length, pixels = fd.integer("low_resolution_length"), fd.integer("low_resolution_pixels")
    lines, nbytes = fd.integer("low_resolution_lines"), fd.integer("low_resolution_bytes")
    if length != pixels * lines * nbytes:
        raise fd.error("low_resolution_length", f"{length} bytes for {lines} x {pixels} "
                       f"pixels of {nbytes} bytes", "the file is corrupt; fetch the "
                       "product again")
    expect_end(path, data, len(fd.raw) + length, "trailer file descriptor")
    return Trailer(path=path, low_resolution_shape=(lines, pixels),
                   low_resolution_bytes=nbytes)
