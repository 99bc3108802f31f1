"""The record layouts of ALOS-2 PALSAR-2 CEOS products, one table per record type.

Source: JAXA, "ALOS-2/PALSAR-2 Level 1.1/1.5/2.1/3.1 CEOS SAR Product Format
Description" (the record type codes of its table 3.2-3 and the field tables of its
chapter 3). Offsets here are 0-based (the document's byte ``n`` is offset ``n - 1``).
Every ASCII field read here was checked against the genuine volume, leader, trailer and
image file descriptors of scene ALOS2015976960-140909 (an L1.5 product, copied under
``tests/data/alos2_ceos``) and its ``summary.txt``; the binary prefix of the L1.1 signal
data record (no L1.1 file is at hand) against the record locators that the image file
descriptor of that product gives (line number at byte 13, time at 45, channel at 49, left
and right fill at 21 and 29, quality flag at 97), which it shares with the L1.5
processed data record.

Only the fields this package reads or writes are listed; the writer leaves the others
blank (ASCII records) or zero (binary records).
"""

from __future__ import annotations

from monitor.io.ceos.fields import Field, Layout

F = Field

# --- volume directory file (VOL-) ------------------------------------------------------

VOLUME_DESCRIPTOR = Layout("volume descriptor", (192, 192, 18, 18), 360, (
    F("ascii_flag", 12, 2, "A"),
    F("document_id", 16, 12, "A"),
    F("document_revision", 28, 2, "A"),
    F("record_revision", 30, 2, "A"),
    F("software_version", 32, 12, "A"),
    F("physical_volume_id", 44, 16, "A"),
    F("logical_volume_id", 60, 16, "A"),
    F("volume_set_id", 76, 16, "A"),
    F("n_physical_volumes", 92, 2, "I"),
    F("first_physical_volume", 94, 2, "I"),
    F("last_physical_volume", 96, 2, "I"),
    F("this_physical_volume", 98, 2, "I"),
    F("first_file_number", 100, 4, "I"),
    F("logical_volume", 104, 4, "I"),
    F("logical_volume_number", 108, 4, "I"),
    F("creation_date", 112, 8, "A"),
    F("creation_time", 120, 8, "A"),
    F("country", 128, 12, "A"),
    F("agency", 140, 8, "A"),
    F("facility", 148, 12, "A"),
    F("n_file_pointers", 160, 4, "I"),
    F("n_text_records", 164, 4, "I"),
))

FILE_POINTER = Layout("file pointer", (219, 192, 18, 18), 360, (
    F("ascii_flag", 12, 2, "A"),
    F("file_number", 16, 4, "I"),
    F("file_id", 20, 16, "A"),
    F("file_class", 36, 28, "A"),
    F("file_class_code", 64, 4, "A"),
    F("data_type", 68, 28, "A"),
    F("data_type_code", 96, 4, "A"),
    F("n_records", 100, 8, "I"),
    F("first_record_length", 108, 8, "I"),
    F("max_record_length", 116, 8, "I"),
    F("record_length_type", 124, 12, "A"),
    F("record_length_type_code", 136, 4, "A"),
    F("first_physical_volume", 140, 2, "I"),
    F("last_physical_volume", 142, 2, "I"),
    F("first_record", 144, 8, "I"),
    F("last_record", 152, 8, "I"),
))

TEXT = Layout("text record", (18, 192, 18, 18), 360, (
    F("ascii_flag", 12, 2, "A"),
    F("product_id", 16, 40, "A"),
    F("location", 56, 60, "A"),
    F("physical_id", 116, 40, "A"),
    F("scene_id", 156, 40, "A"),
    F("scene_location", 196, 40, "A"),
))

# --- file descriptor records (first record of LED-, IMG-, TRL-) ------------------------

_FD_COMMON = (
    F("ascii_flag", 12, 2, "A"),
    F("document_id", 16, 12, "A"),
    F("document_revision", 28, 2, "A"),
    F("record_revision", 30, 2, "A"),
    F("software_version", 32, 12, "A"),
    F("file_number", 44, 4, "I"),
    F("file_id", 48, 16, "A"),
    F("sequence_flag", 64, 4, "A"),
    F("sequence_location", 68, 8, "I"),
    F("sequence_length", 76, 4, "I"),
    F("code_flag", 80, 4, "A"),
    F("code_location", 84, 8, "I"),
    F("code_length", 92, 4, "I"),
    F("length_flag", 96, 4, "A"),
    F("length_location", 100, 8, "I"),
    F("length_length", 108, 4, "I"),
    F("n_data_records", 180, 6, "I"),
    F("data_record_length", 186, 6, "I"),
)

#: The leader's records after its file descriptor, in file order: (name, count field,
#: length field). The dataset summary's count and length are ``n_data_records`` and
#: ``data_record_length``; the facility-related records follow, five kinds.
LEADER_SECTIONS = (
    ("dataset summary", "n_data_records", "data_record_length"),
    ("map projection", "n_map", "map_length"),
    ("platform position", "n_position", "position_length"),
    ("attitude", "n_attitude", "attitude_length"),
    ("radiometric", "n_radiometric", "radiometric_length"),
    ("radiometric compensation", "n_radiometric_compensation",
     "radiometric_compensation_length"),
    ("data quality summary", "n_quality", "quality_length"),
    ("data histogram", "n_histogram", "histogram_length"),
    ("range spectra", "n_spectra", "spectra_length"),
    ("digital elevation model descriptor", "n_dem", "dem_length"),
    ("radar parameter update", "n_radar", "radar_length"),
    ("annotation", "n_annotation", "annotation_length"),
    ("detailed processing parameters", "n_processing", "processing_length"),
    ("calibration", "n_calibration", "calibration_length"),
    ("ground control points", "n_gcp", "gcp_length"),
)

_LEADER_COUNTS = tuple(
    f for i, (_, count, length) in enumerate(LEADER_SECTIONS[1:])
    for f in (F(count, 192 + 12 * i, 6, "I"), F(length, 198 + 12 * i, 6, "I")))

LEADER_DESCRIPTOR = Layout("leader file descriptor", (11, 192, 18, 18), 720, (
    *_FD_COMMON, *_LEADER_COUNTS,
    F("facility_counts", 420, 6, "I", count=5, stride=14),
    F("facility_lengths", 426, 8, "I", count=5, stride=14),
))

TRAILER_DESCRIPTOR = Layout("trailer file descriptor", (63, 192, 18, 18), 720, (
    *LEADER_DESCRIPTOR.fields,
    F("n_low_resolution", 490, 6, "I"),
    F("low_resolution_length", 496, 8, "I"),
    F("low_resolution_pixels", 504, 6, "I"),
    F("low_resolution_lines", 510, 6, "I"),
    F("low_resolution_bytes", 516, 6, "I"),
))

IMAGE_DESCRIPTOR = Layout("image file descriptor", (50, 192, 18, 18), 720, (
    *_FD_COMMON,
    F("bits_per_sample", 216, 4, "I"),
    F("samples_per_group", 220, 4, "I"),
    F("bytes_per_group", 224, 4, "I"),
    F("justification", 228, 4, "A"),
    F("n_channels", 232, 4, "I"),
    F("n_lines", 236, 8, "I"),
    F("left_border", 244, 4, "I"),
    F("n_pixels", 248, 8, "I"),
    F("right_border", 256, 4, "I"),
    F("top_border", 260, 4, "I"),
    F("bottom_border", 264, 4, "I"),
    F("interleave", 268, 4, "A"),
    F("records_per_line", 272, 2, "I"),
    F("records_per_multichannel_line", 274, 2, "I"),
    F("prefix_bytes", 276, 4, "I"),
    F("data_bytes", 280, 8, "I"),
    F("suffix_bytes", 288, 4, "I"),
    F("prefix_repeat", 292, 4, "A"),
    F("line_number_locator", 296, 8, "A"),
    F("channel_locator", 304, 8, "A"),
    F("time_locator", 312, 8, "A"),
    F("left_fill_locator", 320, 8, "A"),
    F("right_fill_locator", 328, 8, "A"),
    F("quality_locator", 368, 8, "A"),
    F("sample_type", 400, 28, "A"),
    F("sample_type_code", 428, 4, "A"),
    F("left_fill_bits", 432, 4, "I"),
    F("right_fill_bits", 436, 4, "I"),
    F("max_data_range", 440, 8, "I"),
))

# --- leader file (LED-) ----------------------------------------------------------------

DATASET_SUMMARY = Layout("dataset summary", (18, 10, 18, 20), 4096, (
    F("sequence", 12, 4, "I"),
    F("sar_channel", 16, 4, "I"),
    F("scene_id", 20, 32, "A"),
    F("scene_designator", 52, 16, "A"),
    F("scene_centre_time", 68, 32, "A"),  # YYYYMMDDhhmmssttt, UTC
    F("centre_lat", 116, 16, "F", 7, unit="deg"),
    F("centre_lon", 132, 16, "F", 7, unit="deg"),
    F("heading", 148, 16, "F", 7, unit="deg"),
    F("ellipsoid", 164, 16, "A"),
    F("semi_major", 180, 16, "F", 7, unit="km"),
    F("semi_minor", 196, 16, "F", 7, unit="km"),
    F("terrain_height", 308, 16, "F", 7, unit="m"),
    F("centre_line", 324, 8, "I"),
    F("centre_pixel", 332, 8, "I"),
    F("scene_length", 340, 16, "F", 7, unit="km"),
    F("scene_width", 356, 16, "F", 7, unit="km"),
    F("n_channels", 388, 4, "I"),
    F("platform", 396, 16, "A"),
    F("sensor_id", 412, 32, "A"),
    F("orbit", 444, 8, "I"),
    F("platform_lat", 452, 8, "F", 3, unit="deg"),
    F("platform_lon", 460, 8, "F", 3, unit="deg"),
    F("platform_heading", 468, 8, "F", 3, unit="deg"),
    F("clock_angle", 476, 8, "F", 3, unit="deg"),  # +90 right-looking, -90 left
    F("incidence", 484, 8, "F", 3, unit="deg"),
    F("wavelength", 500, 16, "F", 7, unit="m"),
    F("motion_compensation", 516, 2, "A"),
    F("range_pulse_code", 518, 16, "A"),
    F("range_pulse_amplitude", 534, 16, "E", 7, count=5),  # [1]: chirp rate, Hz/s
    F("chirp_index", 694, 8, "I"),
    F("sampling_rate", 710, 16, "F", 7, unit="MHz"),
    F("range_gate", 726, 16, "F", 7, unit="us"),
    F("pulse_width", 742, 16, "F", 7, unit="us"),
    F("baseband_flag", 758, 4, "A"),
    F("range_compressed_flag", 762, 4, "A"),
    F("quantisation_bits", 798, 8, "I"),
    F("quantisation_descriptor", 806, 12, "A"),
    F("echo_tracker", 930, 4, "A"),
    F("prf", 934, 16, "F", 7, unit="mHz"),
    F("processing_facility", 1046, 16, "A"),
    F("processing_system", 1062, 8, "A"),
    F("processing_version", 1070, 8, "A"),
    F("processing_level", 1094, 16, "A"),
    F("product_type", 1110, 32, "A"),
    F("looks_azimuth", 1174, 16, "F", 7),
    F("looks_range", 1190, 16, "F", 7),
    F("bandwidth_azimuth", 1238, 16, "F", 7, unit="Hz"),
    F("bandwidth_range", 1254, 16, "F", 7, unit="kHz"),
    F("resolution_ground_range", 1350, 16, "F", 7, unit="m"),
    F("resolution_azimuth", 1366, 16, "F", 7, unit="m"),
    F("time_direction_pixel", 1526, 8, "A"),
    F("time_direction_line", 1534, 8, "A"),
    F("clutterlock_flag", 1678, 4, "A"),
    F("autofocus_flag", 1682, 4, "A"),
    F("line_spacing", 1686, 16, "F", 7, unit="m"),
    F("pixel_spacing", 1702, 16, "F", 7, unit="m"),
    F("range_compression", 1718, 16, "A"),
    F("off_nadir", 1838, 16, "F", 7, unit="deg"),
    F("beam_number", 1854, 4, "I"),
))

MAP_PROJECTION = Layout("map projection", (18, 20, 18, 20), 1620, (
    F("description", 28, 32, "A"),
    F("n_pixels", 60, 16, "I"),
    F("n_lines", 76, 16, "I"),
    F("pixel_spacing", 92, 16, "F", 7, unit="m"),
    F("line_spacing", 108, 16, "F", 7, unit="m"),
    F("ellipsoid", 236, 32, "A"),
    F("semi_major", 268, 16, "F", 7, unit="m"),
    F("semi_minor", 284, 16, "F", 7, unit="m"),
    F("projection", 412, 32, "A"),
    F("projection_name", 444, 32, "A"),
    F("utm_zone", 476, 4, "I"),
    F("false_easting", 480, 16, "F", 5, unit="m"),
    F("false_northing", 496, 16, "F", 5, unit="m"),
    F("centre_lon", 512, 16, "F", 7, unit="deg"),
    F("centre_lat", 528, 16, "F", 7, unit="deg"),
    F("scale_factor", 576, 16, "F", 7),
    # (lat, lon) of the first line's first and last pixel, the last line's last and
    # first pixel
    F("corners", 1072, 16, "F", 7, count=8, unit="deg"),
))

#: State vectors the platform position record holds at most (ALOS-2: 28, one a minute).
MAX_STATE_VECTORS = 28

PLATFORM_POSITION = Layout("platform position", (18, 30, 18, 20), 4680, (
    F("orbital_elements", 12, 32, "A"),
    F("n_vectors", 140, 4, "I"),
    F("year", 144, 4, "I"),
    F("month", 148, 4, "I"),
    F("day", 152, 4, "I"),
    F("day_of_year", 156, 4, "I"),
    F("seconds_of_day", 160, 22, "E", 15, unit="s"),
    F("interval", 182, 22, "E", 15, unit="s"),
    F("reference_frame", 204, 64, "A"),
    F("position_errors", 290, 16, "F", 7, count=3, unit="m"),
    F("velocity_errors", 338, 16, "F", 7, count=3, unit="m/s"),
    # x, y, z, vx, vy, vz of each vector, ECEF metres and metres per second
    F("vectors", 386, 22, "E", 15, count=6 * MAX_STATE_VECTORS),
    F("leap_second", 4100, 1, "A"),
))

#: Attitude points the attitude record holds at most.
MAX_ATTITUDE_POINTS = (16384 - 16) // 120

_N_ATT = MAX_ATTITUDE_POINTS
ATTITUDE = Layout("attitude", (18, 40, 18, 20), 16384, (
    F("n_points", 12, 4, "I"),
    F("day_of_year", 16, 4, "I", count=_N_ATT, stride=120),
    F("ms_of_day", 20, 8, "I", count=_N_ATT, stride=120),
    F("pitch", 40, 14, "E", 6, count=_N_ATT, stride=120, unit="deg"),
    F("roll", 54, 14, "E", 6, count=_N_ATT, stride=120, unit="deg"),
    F("yaw", 68, 14, "E", 6, count=_N_ATT, stride=120, unit="deg"),
    F("pitch_rate", 94, 14, "E", 6, count=_N_ATT, stride=120, unit="deg/s"),
    F("roll_rate", 108, 14, "E", 6, count=_N_ATT, stride=120, unit="deg/s"),
    F("yaw_rate", 122, 14, "E", 6, count=_N_ATT, stride=120, unit="deg/s"),
))

RADIOMETRIC = Layout("radiometric", (18, 50, 18, 20), 9860, (
    F("sequence", 12, 4, "I"),
    F("n_points", 16, 4, "I"),
    F("calibration_factor", 20, 16, "F", 7, unit="dB"),
    # real and imaginary parts of DT11, DT12, DT21, DT22 (transmit) then DR11..DR22
    F("distortion", 36, 16, "F", 7, count=16),
))

DATA_QUALITY = Layout("data quality summary", (18, 60, 18, 20), 1620, (
    F("sequence", 12, 4, "I"),
    F("n_channels", 26, 4, "I"),
    F("islr", 30, 16, "F", 7, unit="dB"),
    F("pslr", 46, 16, "F", 7, unit="dB"),
    F("azimuth_ambiguity", 62, 16, "F", 7, unit="dB"),
    F("range_ambiguity", 78, 16, "F", 7, unit="dB"),
    F("slant_range_resolution", 126, 16, "F", 7, unit="m"),
    F("azimuth_resolution", 142, 16, "F", 7, unit="m"),
))

FACILITY = Layout("facility related", (18, 200, 18, 70), None, (
    F("sequence", 12, 4, "I"),
))

#: Facility-related record 5: the conversions between image coordinates and latitude and
#: longitude, 5 x 5 polynomials in offsets from an origin, coefficient ``5 i + j``
#: multiplying ``a**(4 - i) * b**(4 - j)`` with ``(a, b)`` = (pixel, line) or
#: (latitude, longitude) minus the origin (L1.1 and L1.5).
FACILITY_COORDINATES = Layout("facility related (coordinate conversion)",
                              FACILITY.codes, 5000, (
    F("sequence", 12, 4, "I"),
    F("map_to_pixel", 16, 20, "E", 10, count=10),
    F("map_to_line", 216, 20, "E", 10, count=10),
    F("pixel_line_to_lat", 1024, 20, "E", 10, count=25, unit="deg"),
    F("pixel_line_to_lon", 1524, 20, "E", 10, count=25, unit="deg"),
    F("origin_pixel", 2024, 20, "E", 10),
    F("origin_line", 2044, 20, "E", 10),
    F("lat_lon_to_pixel", 2064, 20, "E", 10, count=25),
    F("lat_lon_to_line", 2564, 20, "E", 10, count=25),
    F("origin_lat", 3064, 20, "E", 10, unit="deg"),
    F("origin_lon", 3084, 20, "E", 10, unit="deg"),
))

# --- image file (IMG-) -------------------------------------------------------------------

#: Bytes of the signal data record prefix of an L1.1 product.
SIGNAL_PREFIX_BYTES = 544

SIGNAL_DATA = Layout("signal data", (50, 10, 18, 20), None, (
    F("line_number", 12, 4, "B"),
    F("record_index", 16, 4, "B"),
    F("left_fill", 20, 4, "B"),
    F("n_pixels", 24, 4, "B"),
    F("right_fill", 28, 4, "B"),
    F("update_flag", 32, 4, "B"),
    F("year", 36, 4, "B"),
    F("day_of_year", 40, 4, "B"),
    F("ms_of_day", 44, 4, "B"),
    F("channel_id", 48, 2, "B"),
    F("channel_code", 50, 2, "B"),
    F("tx_polarisation", 52, 2, "B"),  # 0 H, 1 V
    F("rx_polarisation", 54, 2, "B"),
    F("prf", 56, 4, "B", unit="mHz"),
    F("us_of_day", 84, 8, "B", unit="us"),
    F("invalid_flag", 96, 4, "B"),
    F("slant_range_first", 116, 4, "B", unit="m"),
    F("window_position", 120, 4, "B"),
    F("lat_first", 192, 4, "B", unit="1e-6 deg"),
    F("lat_centre", 196, 4, "B", unit="1e-6 deg"),
    F("lat_last", 200, 4, "B", unit="1e-6 deg"),
    F("lon_first", 204, 4, "B", unit="1e-6 deg"),
    F("lon_centre", 208, 4, "B", unit="1e-6 deg"),
    F("lon_last", 212, 4, "B", unit="1e-6 deg"),
    F("frame_number", 284, 4, "B"),
))

#: The L1.5 processed data record (its prefix is not read here).
PROCESSED_DATA = Layout("processed data", (50, 11, 18, 20), None, ())
