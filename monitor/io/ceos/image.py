"""The image files (``IMG-<pol>-``) of an ALOS-2 PALSAR-2 CEOS product, memory-mapped.

An image file is a 720-byte file descriptor, then one record per image line: a record
prefix (the 12-byte header, then the line's sensor parameters as big-endian binary
integers: 544 bytes in L1.1 signal data records, 192 in L1.5 processed data records),
the line's samples, and a suffix (none for ALOS-2). :func:`open_image` maps the file
with :class:`numpy.memmap` and exposes the samples as a strided ``(lines, pixels)`` view
without the prefixes, so that reading a window touches only the window's lines: L1.1
complex samples are pairs of big-endian IEEE floats (sample type code ``C*8``, read as
``>c8``), L1.5 amplitudes big-endian unsigned 16-bit integers (``IU2``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from monitor.errors import CeosError
from monitor.io.ceos import layouts
from monitor.io.ceos.fields import HEADER_BYTES, Record, codes_text
from monitor.io.ceos.scan import REFETCH, read_file, record_at

#: Sample type code -> the samples' dtype on disk.
SAMPLE_TYPES: dict[str, np.dtype[np.generic]] = {"C*8": np.dtype(">c8"),
                                                 "IU2": np.dtype(">u2")}


@dataclass(frozen=True)
class ImageDescriptor:
    """An image file's descriptor record.

    Attributes:
        path: The file.
        n_lines: Image lines (= data records: one record per line for ALOS-2).
        n_pixels: Pixels per line.
        record_length: Bytes of each data record.
        prefix_bytes: Bytes before the samples in each record (header included).
        suffix_bytes: Bytes after the samples.
        sample_type_code: ``C*8`` (L1.1 complex float) or ``IU2`` (L1.5 amplitude).
        sample_type: The longer sample type text (``COMPLEX*8``, ``UNSIGNED INTEGER*2``).
        bytes_per_sample: Bytes of one sample (8 or 2).
        descriptor_length: Bytes of the descriptor record (720).
    """

    path: Path
    n_lines: int
    n_pixels: int
    record_length: int
    prefix_bytes: int
    suffix_bytes: int
    sample_type_code: str
    sample_type: str
    bytes_per_sample: int
    descriptor_length: int

    @property
    def dtype(self) -> np.dtype[np.generic]:
        return SAMPLE_TYPES[self.sample_type_code]

    @property
    def data_layout(self) -> layouts.Layout:
        return layouts.SIGNAL_DATA if self.sample_type_code == "C*8" else layouts.PROCESSED_DATA

    @property
    def expected_size(self) -> int:
        return self.descriptor_length + self.n_lines * self.record_length


def read_image_descriptor(path: str | Path) -> ImageDescriptor:
    """Parse and check an image file's descriptor (only its first record is read).

    Raises:
        CeosError: A bad header or field; a sample type other than ``C*8`` and ``IU2``;
            several channels or records per line; a record length that is not prefix +
            samples + suffix.
    """
    path = Path(path)
    head = read_file(path, "image file", max_bytes=layouts.IMAGE_DESCRIPTOR.length)
    fd = record_at(path, head, 0, 1, layouts.IMAGE_DESCRIPTOR)
    code = fd.text("sample_type_code")
    if code not in SAMPLE_TYPES:
        raise fd.error("sample_type_code", f"unsupported sample type {code!r} "
                       f"({fd.text('sample_type')!r})", "this reader reads L1.1 complex "
                       "(C*8) and L1.5 amplitude (IU2) images")
    nbytes = fd.integer("bytes_per_group")
    if nbytes != SAMPLE_TYPES[code].itemsize:
        raise fd.error("bytes_per_group", f"{nbytes} bytes per sample for sample type "
                       f"{code}, expected {SAMPLE_TYPES[code].itemsize}", REFETCH)
    for name, expected in (("n_channels", 1), ("records_per_line", 1)):
        if fd.integer(name) != expected:
            raise fd.error(name, f"{fd.integer(name)}, this reader supports {expected}",
                           "use a single-polarisation image file of a stripmap product")
    n_lines, n_pixels, n_records = fd.integer("n_lines"), fd.integer("n_pixels"), fd.integer(
        "n_data_records")
    if n_records != n_lines:
        raise fd.error("n_data_records", f"{n_records} data records for {n_lines} lines",
                       REFETCH)
    prefix, suffix, length = (fd.integer("prefix_bytes"), fd.integer("suffix_bytes"),
                              fd.integer("data_record_length"))
    if length != prefix + n_pixels * nbytes + suffix or prefix < HEADER_BYTES:
        raise fd.error("data_record_length", f"{length} bytes, but prefix {prefix} + "
                       f"{n_pixels} samples x {nbytes} bytes + suffix {suffix}", REFETCH)
    return ImageDescriptor(path=path, n_lines=n_lines, n_pixels=n_pixels,
                           record_length=length, prefix_bytes=prefix, suffix_bytes=suffix,
                           sample_type_code=code, sample_type=fd.text("sample_type"),
                           bytes_per_sample=nbytes, descriptor_length=len(fd.raw))


class ImageFile:
    """An image file mapped into memory (read-only).

    Attributes:
        descriptor: Its descriptor.
        records: ``(n_lines, record_length)`` uint8 memory map of the data records.
        samples: ``(n_lines, n_pixels)`` view of the samples (prefix and suffix
            stripped), dtype ``>c8`` or ``>u2``: no byte is read until used.
    """

    def __init__(self, descriptor: ImageDescriptor) -> None:
        d = descriptor
        self.descriptor = d
        self.records = np.memmap(d.path, dtype=np.uint8, mode="r", offset=d.descriptor_length,
                                 shape=(d.n_lines, d.record_length))
        self.samples = self.records[:, d.prefix_bytes:d.record_length - d.suffix_bytes
                                    ].view(d.dtype)

    def check_records(self, line0: int, line1: int) -> None:
        """Check the headers of the data records of lines ``[line0, line1)``.

        Raises:
            CeosError: A sequence number, type code or record length that is not the
                expected one (naming the first bad record).
        """
        d = self.descriptor
        head = np.asarray(self.records[line0:line1, :HEADER_BYTES])
        seq = head[:, 0:4].copy().view(">u4")[:, 0]
        length = head[:, 8:12].copy().view(">u4")[:, 0]
        codes = head[:, 4:8]
        want = np.arange(line0, line1) + 2
        bad = (seq != want) | (length != d.record_length) | (
            codes != np.array(d.data_layout.codes, dtype=np.uint8)).any(axis=1)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            line = line0 + k
            found = tuple(int(c) for c in codes[k])
            wrong = [f"{what} {got}, expected {expected}" for what, got, expected in (
                ("sequence number", int(seq[k]), int(want[k])),
                ("type codes", codes_text(found), codes_text(d.data_layout.codes)),
                ("record length", int(length[k]), d.record_length)) if got != expected]
            raise CeosError(d.path, f"header of line {line}: {'; '.join(wrong)}", REFETCH,
                            record=line + 2, record_type=d.data_layout.name)

    def prefix(self, line: int) -> Record:
        """The data record of ``line`` (its prefix fields readable), header checked."""
        d = self.descriptor
        self.check_records(line, line + 1)
        return Record(d.data_layout, bytes(self.records[line, :d.prefix_bytes]), d.path,
                      line + 2)

    def line_time(self, line: int) -> datetime:
        """Sensor acquisition time of ``line`` (UTC, microseconds), from its L1.1 signal
        data record (year, day of year, microseconds of day)."""
        rec = self.prefix(line)
        year, day, us = rec.integer("year"), rec.integer("day_of_year"), rec.integer("us_of_day")
        if not (1990 < year < 2200 and 1 <= day <= 366 and 0 <= us < 86_401_000_000):
            raise rec.error("us_of_day", f"year {year}, day {day}, {us} us of day is not "
                            "a time", REFETCH)
        return datetime(year, 1, 1, tzinfo=UTC) + timedelta(days=day - 1, microseconds=us)

    def read(self, line0: int, line1: int, pixel0: int, pixel1: int) -> NDArray[np.generic]:
        """A copy of the samples of lines ``[line0, line1)`` and pixels
        ``[pixel0, pixel1)``, in native byte order (complex64, or float32 amplitudes);
        only these lines are read from the file."""
        self.check_records(line0, line1)
        block = self.samples[line0:line1, pixel0:pixel1]
        out = np.complex64 if self.descriptor.sample_type_code == "C*8" else np.float32
        return np.array(block, dtype=out)

    def read_complex(self, line0: int, line1: int, pixel0: int, pixel1: int
                     ) -> NDArray[np.complex64]:
        """:meth:`read` for an L1.1 complex image (complex64)."""
        if self.descriptor.sample_type_code != "C*8":
            raise CeosError(self.descriptor.path, f"sample type "
                            f"{self.descriptor.sample_type_code} is not complex",
                            "interferometry needs the L1.1 product (sample type C*8)",
                            record=1, record_type="image file descriptor",
                            field="sample_type_code")
        self.check_records(line0, line1)
        return np.array(self.samples[line0:line1, pixel0:pixel1], dtype=np.complex64)


def open_image(path: str | Path) -> ImageFile:
    """Map an image file after checking its descriptor and its size.

    Raises:
        CeosError: A bad descriptor (see :func:`read_image_descriptor`), or a file with
            fewer (or more) bytes than its descriptor's records.
    """
    d = read_image_descriptor(path)
    size = d.path.stat().st_size
    if size != d.expected_size:
        whole = (size - d.descriptor_length) // d.record_length
        raise CeosError(d.path, f"{size} bytes hold {whole} whole data records (lines), "
                        f"the descriptor announces {d.n_lines} of {d.record_length} bytes "
                        f"({d.expected_size} bytes in all)",
                        "the download is incomplete or the file was cut; fetch the "
                        "product again", record=min(whole + 2, d.n_lines + 1),
                        record_type=d.data_layout.name)
    image = ImageFile(d)
    image.check_records(0, 1)
    image.check_records(d.n_lines - 1, d.n_lines)
    return image
