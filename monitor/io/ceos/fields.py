"""CEOS record layouts as field tables, shared by the reader and the writer.

A CEOS record is a 12-byte binary header (sequence number, four type codes, record length,
all big-endian) followed by fields at fixed byte offsets. ALOS-2 PALSAR-2 leader, volume
and trailer records hold ASCII numbers (Fortran formats ``In``, ``Fn.d``, ``En.d``,
right-justified, blank-padded) and text (``An``, left-justified); the prefix of an image
file's signal data records holds big-endian binary integers. One :class:`Layout` per
record type lists its fields once; :class:`Record` reads them (lazily, each error naming
the file, the record number and type, the field and its byte offset) and
:func:`encode_record` writes them.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from monitor.errors import CeosError

HEADER_BYTES = 12
_HEADER = struct.Struct(">IBBBBI")
_BINARY = {1: "b", 2: "h", 4: "i", 8: "q"}


@dataclass(frozen=True)
class Field:
    """One field of a record.

    Attributes:
        name: Python name of the field (also used in error messages).
        offset: Byte offset from the start of the record (0-based; the format
            description counts from 1, so its byte ``n`` is offset ``n - 1``).
        length: Bytes of one value.
        kind: ``"A"`` text, ``"I"`` ASCII integer, ``"F"`` ASCII fixed-point,
            ``"E"`` ASCII exponent, ``"B"`` big-endian signed binary integer.
        decimals: Digits after the point for ``F`` and ``E`` (the writer's format).
        count: Values of an array field (1 for a scalar).
        stride: Bytes from one value of an array field to the next (default ``length``:
            consecutive values; larger for a field repeated in a group, such as the
            pitch of each attitude point).
        unit: Unit of the value as the file stores it (documentation only).
    """

    name: str
    offset: int
    length: int
    kind: str
    decimals: int = 0
    count: int = 1
    stride: int = 0
    unit: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("A", "I", "F", "E", "B"):
            raise ValueError(f"field {self.name}: unknown kind {self.kind!r}")
        if self.kind == "B" and self.length not in _BINARY:
            raise ValueError(f"field {self.name}: binary fields are 1, 2, 4 or 8 bytes")

    @property
    def step(self) -> int:
        return self.stride or self.length

    def start(self, index: int) -> int:
        """Byte offset of value ``index`` of the field."""
        return self.offset + index * self.step

    @property
    def end(self) -> int:
        return self.start(self.count - 1) + self.length


@dataclass(frozen=True)
class Layout:
    """The layout of one record type.

    Attributes:
        name: Record type as the format description names it (for messages).
        codes: The four type codes of the header (first subtype, type, second and third
            subtype), e.g. ``(18, 10, 18, 20)`` for the dataset summary.
        length: Record length in bytes when the format fixes it, else None (the file
            descriptor gives it).
        fields: The fields this package reads or writes; other bytes are blanks
            (ASCII records) or zeros (binary records) when written.
    """

    name: str
    codes: tuple[int, int, int, int]
    length: int | None
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")


def codes_text(codes: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(c) for c in codes) + ")"


class Record:
    """One record read from a file: its header and lazily parsed fields.

    Attributes:
        layout: The record's layout.
        raw: The record's bytes (header included).
        path: The file it came from.
        number: Its sequence number in the file (1-based, as in its header).
    """

    def __init__(self, layout: Layout, raw: bytes, path: Path, number: int) -> None:
        self.layout = layout
        self.raw = raw
        self.path = path
        self.number = number

    def error(self, field: str | None, problem: str, action: str) -> CeosError:
        """A :class:`CeosError` naming this record (and the field, when given)."""
        return CeosError(self.path, problem, action, record=self.number,
                         record_type=self.layout.name, field=field)

    def _bytes(self, f: Field, index: int) -> bytes:
        start = f.start(index)
        if start + f.length > len(self.raw):
            raise self.error(f.name, f"the record ends at byte {len(self.raw)}, before "
                             f"the field (bytes {start + 1}-{start + f.length})",
                             "the file is truncated or not this record type; fetch the "
                             "product again")
        return self.raw[start:start + f.length]

    def text(self, name: str) -> str:
        """An ``A`` field, stripped of its padding."""
        f = self.layout.field(name)
        try:
            return self._bytes(f, 0).decode("ascii").strip()
        except UnicodeDecodeError as exc:
            raise self.error(name, f"bytes {f.offset + 1}-{f.end} are not ASCII text",
                             "the file is corrupt; fetch the product again") from exc

    def _number(self, f: Field, index: int, required: bool) -> float | int | None:
        chunk = self._bytes(f, index)
        if f.kind == "B":
            return int(struct.unpack(">" + _BINARY[f.length], chunk)[0])
        text = chunk.decode("ascii", errors="replace").strip()
        span = f"bytes {f.start(index) + 1}-{f.start(index) + f.length}"
        if not text:
            if required:
                raise self.error(f.name, f"{span} are blank",
                                 "the product lacks a value the reader needs; use a "
                                 "complete product")
            return None
        try:
            if f.kind == "I":
                return int(text)
            value = float(text.replace("D", "E"))
        except ValueError as exc:
            raise self.error(f.name, f"{text!r} at {span} is not a number "
                             f"(format {f.kind}{f.length})",
                             "the file is corrupt; fetch the product again") from exc
        if required and not math.isfinite(value):
            raise self.error(f.name, f"{text!r} is not a finite number",
                             "the product lacks a value the reader needs; use a "
                             "complete product")
        return value

    def integer(self, name: str) -> int:
        """A required integer field (``I`` or ``B``)."""
        value = self._number(self.layout.field(name), 0, True)
        assert value is not None
        return int(value)

    def real(self, name: str) -> float:
        """A required real field (``F`` or ``E``)."""
        value = self._number(self.layout.field(name), 0, True)
        assert value is not None
        return float(value)

    def optional(self, name: str, index: int = 0) -> float | None:
        """A numeric field (value ``index`` of an array field) that may be blank (None
        then) or NaN."""
        value = self._number(self.layout.field(name), index, False)
        return None if value is None else float(value)

    def array(self, name: str, count: int | None = None) -> NDArray[np.float64]:
        """The first ``count`` values (default: the field's count) of an array field."""
        f = self.layout.field(name)
        n = f.count if count is None else count
        if n > f.count:
            raise self.error(name, f"{n} values announced, the record holds at most "
                             f"{f.count}", "the file is corrupt; fetch the product again")
        return np.array([self._number(f, i, True) for i in range(n)], dtype=np.float64)


def parse_header(raw: bytes) -> tuple[int, tuple[int, int, int, int], int]:
    """The sequence number, type codes and record length of a 12-byte header."""
    seq, s1, t, s2, s3, length = _HEADER.unpack(raw[:HEADER_BYTES])
    return seq, (s1, t, s2, s3), length


def _encode_value(f: Field, value: object, layout: Layout) -> bytes:
    where = f"{layout.name}.{f.name}"
    if f.kind == "B":
        return struct.pack(">" + _BINARY[f.length], int(value))  # type: ignore[call-overload]
    if f.kind == "A":
        text = str(value)
        if len(text) > f.length:
            raise ValueError(f"{where}: {text!r} is longer than {f.length} characters")
        return text.ljust(f.length).encode("ascii")
    if f.kind == "I":
        text = f"{int(value):>{f.length}d}"  # type: ignore[call-overload]
    elif f.kind == "F":
        text = f"{float(value):>{f.length}.{f.decimals}f}"  # type: ignore[arg-type]
    else:
        text = f"{float(value):>{f.length}.{f.decimals}E}"  # type: ignore[arg-type]
    if len(text) > f.length:
        raise ValueError(f"{where}: {value!r} does not fit {f.kind}{f.length}.{f.decimals}")
    return text.encode("ascii")


def encode_record(layout: Layout, number: int, values: Mapping[str, object],
                  length: int | None = None, fill: bytes = b" ") -> bytes:
    """The bytes of one record: header, then each field of ``values`` at its offset.

    Args:
        layout: The record type.
        number: Sequence number written in the header.
        values: Field name -> value (a sequence for array fields, at most ``count``
            values); fields not given stay ``fill``.
        length: Record length when the layout does not fix it.
        fill: Byte for unwritten positions (blank for ASCII records, zero for binary).

    Returns:
        The record, ``length`` bytes.

    Raises:
        ValueError: An unknown field, a value that does not fit its field, or a record
            length shorter than its fields.
    """
    size = layout.length if layout.length is not None else length
    if size is None:
        raise ValueError(f"{layout.name}: the record length must be given")
    buf = bytearray(fill * size)
    buf[:HEADER_BYTES] = _HEADER.pack(number, *layout.codes, size)
    for name, value in values.items():
        f = layout.field(name)
        items = list(value) if f.count > 1 else [value]  # type: ignore[call-overload]
        if len(items) > f.count:
            raise ValueError(f"{layout.name}.{name}: {len(items)} values, at most {f.count}")
        for i, item in enumerate(items):
            start = f.start(i)
            if start + f.length > size:
                raise ValueError(f"{layout.name}.{name} ends past the record's {size} bytes")
            buf[start:start + f.length] = _encode_value(f, item, layout)
    return bytes(buf)
