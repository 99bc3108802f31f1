"""The volume directory file (``VOL-``) of an ALOS-2 PALSAR-2 CEOS product: its volume
descriptor, one file pointer per file of the product, and the text record (product and
scene ids). Every record header is checked; a malformed file is a
:class:`~monitor.errors.CeosError` naming the file, the record and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from monitor.io.ceos import layouts
from monitor.io.ceos.scan import expect_end, read_file, record_at


@dataclass(frozen=True)
class FilePointer:
    """One file of the product as the volume directory lists it.

    Attributes:
        number: File number (1-based).
        file_id: File id (``AL2 SARCSARL``...).
        class_code: ``SARL`` leader, ``IMOP`` image, ``SART`` trailer.
        n_records: Records of the file (its file descriptor included).
        first_record_length: Bytes of its first record.
        max_record_length: Bytes of its longest record.
    """

    number: int
    file_id: str
    class_code: str
    n_records: int
    first_record_length: int
    max_record_length: int


@dataclass(frozen=True)
class VolumeDirectory:
    """The volume directory file (``VOL-``).

    Attributes:
        path: The file.
        logical_volume_id: Logical volume id (``AL2SAR20150320``).
        agency: Producing agency (``JAXA``).
        facility: Processing facility.
        files: The file pointers (leader, images, trailer).
        product_id: Product code from the text record (``FBDR1.5GUA``).
        scene_id: Scene id from the text record (``ALOS2015976960-140909``).
    """

    path: Path
    logical_volume_id: str
    agency: str
    facility: str
    files: tuple[FilePointer, ...]
    product_id: str
    scene_id: str


def read_volume(path: str | Path) -> VolumeDirectory:
    """Parse a volume directory file: volume descriptor, file pointers, text record.

    Raises:
        CeosError: Missing file, bad record header or field.
    """
    path = Path(path)
    data = read_file(path, "volume directory")
    desc = record_at(path, data, 0, 1, layouts.VOLUME_DESCRIPTOR)
    n_files = desc.integer("n_file_pointers")
    n_text = desc.integer("n_text_records")
    files = []
    offset = len(desc.raw)
    for i in range(n_files):
        rec = record_at(path, data, offset, 2 + i, layouts.FILE_POINTER)
        files.append(FilePointer(
            number=rec.integer("file_number"), file_id=rec.text("file_id"),
            class_code=rec.text("file_class_code"), n_records=rec.integer("n_records"),
            first_record_length=rec.integer("first_record_length"),
            max_record_length=rec.integer("max_record_length")))
        offset += len(rec.raw)
    product_id = scene_id = ""
    for i in range(n_text):
        text = record_at(path, data, offset, 2 + n_files + i, layouts.TEXT)
        offset += len(text.raw)
        if i == 0:
            product_id = _after_colon(text.text("product_id"))
            scene_id = _after_colon(text.text("scene_id"))
    expect_end(path, data, offset, "volume descriptor")
    return VolumeDirectory(path=path, logical_volume_id=desc.text("logical_volume_id"),
                           agency=desc.text("agency"), facility=desc.text("facility"),
                           files=tuple(files), product_id=product_id, scene_id=scene_id)


def _after_colon(text: str) -> str:
    return text.split(":", 1)[1].strip() if ":" in text else text.strip()
