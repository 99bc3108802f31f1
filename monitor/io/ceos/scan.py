"""Reading CEOS files record by record, every record header checked.

Each record starts with a 12-byte header: sequence number (records are numbered from 1
in each file), four type codes, record length. :func:`record_at` refuses a record whose
sequence number, type codes or length is not the expected one, or that the file ends
inside, with a :class:`~monitor.errors.CeosError` naming the file and the record.
"""

from __future__ import annotations

from pathlib import Path

from monitor.errors import CeosError
from monitor.io.ceos.fields import HEADER_BYTES, Layout, Record, codes_text, parse_header

REFETCH = "the file is truncated or corrupt; fetch the product again"


def read_file(path: Path, what: str, max_bytes: int | None = None) -> bytes:
    """The bytes of a CEOS file (at most ``max_bytes``).

    Raises:
        CeosError: The file is missing or unreadable.
    """
    try:
        with open(path, "rb") as fh:
            return fh.read() if max_bytes is None else fh.read(max_bytes)
    except OSError as exc:
        raise CeosError(path, f"cannot read the {what}: {exc.strerror or exc}",
                        "check that the product is complete and readable") from exc


def record_at(path: Path, data: bytes, offset: int, number: int, layout: Layout,
              length: int | None = None, declared_by: str = "the format",
              check_codes: bool = True) -> Record:
    """The record ``number`` expected at byte ``offset`` of ``data``, its header checked.

    Args:
        path: The file (for messages).
        data: The file's bytes (or its first bytes, as long as they hold the record).
        offset: Byte offset of the record.
        number: Its expected sequence number.
        layout: Its expected type.
        length: Its expected length when the layout does not fix it (as the file
            descriptor declares it); a layout's fixed length wins only when this is None.
        declared_by: What declared the length (for messages).
        check_codes: Whether the type codes must be the layout's (False for records this
            package does not read, whose codes it does not know).

    Raises:
        CeosError: Truncated file, wrong sequence number, type codes or length.
    """
    def fail(problem: str, action: str = REFETCH) -> CeosError:
        return CeosError(path, problem, action, record=number, record_type=layout.name)

    if offset + HEADER_BYTES > len(data):
        raise fail(f"the file ends at byte {len(data)}, before this record (expected at "
                   f"byte {offset})")
    seq, codes, rec_len = parse_header(data[offset:offset + HEADER_BYTES])
    if seq != number:
        raise fail(f"sequence number {seq} at byte {offset}, expected {number}")
    if check_codes and codes != layout.codes:
        raise fail(f"record type codes {codes_text(codes)}, expected "
                   f"{codes_text(layout.codes)}", "the file is not an ALOS-2 PALSAR-2 CEOS "
                   "file of this kind, or is corrupt")
    expected = length if length is not None else layout.length
    if expected is not None and rec_len != expected:
        raise fail(f"record length {rec_len} bytes, {declared_by} says {expected}")
    if rec_len < HEADER_BYTES:
        raise fail(f"record length {rec_len} bytes is shorter than its header")
    if offset + rec_len > len(data):
        raise fail(f"the file ends at byte {len(data)}, inside this record of {rec_len} "
                   f"bytes starting at byte {offset}")
    return Record(layout, data[offset:offset + rec_len], path, number)


def expect_end(path: Path, data: bytes, offset: int, what: str) -> None:
    """Refuse bytes after the last record the file descriptor announces."""
    if len(data) != offset:
        raise CeosError(path, f"{len(data) - offset} bytes follow the last record that "
                        f"the {what} announces (byte {offset})", REFETCH)
