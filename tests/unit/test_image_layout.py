# SPDX-License-Identifier: MIT
"""The image format: Python writer and Cython reader agree, and the header is checked."""

import struct

import pytest

from fastdns import _dataplane, image, controlblock


def test_struct_sizes_agree_with_the_data_plane():
    layout = _dataplane.layout()
    assert layout["header"]["size"] == image.HEADER.size == 64
    assert layout["node"]["size"] == image.NODE.size
    assert layout["record"]["size"] == image.RECORD.size
    assert layout["bucket"]["size"] == image.BUCKET.size
    assert layout["entry"]["size"] == image.ENTRY.size
    assert layout["zone"]["size"] == image.ZONE.size


def _offsets(fmt: str) -> list[int]:
    """Field offsets of a packed little-endian struct format."""
    offsets, pos = [], 0
    for code in struct.Struct(fmt).format.lstrip("<"):
        if code.isdigit():
            continue
    # walk field by field with calcsize on growing prefixes
    fields, i, spec = [], 0, fmt.lstrip("<")
    while i < len(spec):
        j = i
        while spec[j].isdigit():
            j += 1
        fields.append(spec[i:j + 1])
        i = j + 1
    for field in fields:
        offsets.append(pos)
        pos += struct.calcsize("<" + field)
    return offsets


def test_field_offsets_agree_with_the_data_plane():
    node = _dataplane.layout()["node"]
    off = _offsets(image.NODE.format)
    assert [node[k] for k in ("hash", "name_off", "name_len", "flags", "zone", "entries_off",
                              "n_entries")] == off[:7]
    assert [node[k] for k in ("other_off", "below_off", "wildcard")] == off[8:]
    record = _dataplane.layout()["record"]
    roff = _offsets(image.RECORD.format)
    assert [record[k] for k in ("flags", "ancount")] == roff[:2]
    assert [record[k] for k in ("tail_len", "n_reloc", "qname_len")] == roff[4:7]
    assert record["smaller_off"] == roff[9]
    header = _dataplane.layout()["header"]
    hoff = _offsets(image.HEADER.format)
    assert header["total_size"] == hoff[3]
    assert header["bucket_count"] == hoff[5]
    assert header["nodes_off"] == hoff[8]
    assert header["refused_off"] == hoff[11]


def test_counter_names_match_the_data_plane():
    assert len(controlblock.COUNTERS) == _dataplane.COUNTER_COUNT
    assert len(controlblock.COUNTERS) * 8 <= controlblock.SLOT_SIZE


def test_name_hash_words():
    # b"\x03com\x00" padded to one word: hand-computed from the rule in docs/image-format.md.
    m64 = (1 << 64) - 1
    word = int.from_bytes(b"\x03com\x00\x00\x00\x00", "little")
    h = 0x243F6A8885A308D3 ^ 5
    h = ((h ^ word) * 0x9E3779B97F4A7C15) & m64
    h ^= h >> 32
    assert image.name_hash(b"\x03com\x00") == h & 0xFFFFFFFF
    assert image.name_hash(b"\x00") != image.name_hash(b"\x00\x00")  # the length is hashed


def _tiny_image() -> bytes:
    rec = image.Record(flags=5, ancount=0, nscount=0, arcount=0, tail=b"", qname_len=0)
    node = image.Node(b"\x00", image.NODE_APEX, 0, (), rec, rec)
    return image.ImageWriter([node], [image.ZoneInfo(b"\x00", 1)], rec).build()


def test_header_round_trip_and_zone_table():
    data = _tiny_image()
    header = image.read_header(data)
    assert header.total_size == len(data) and header.node_count == 1
    assert image.read_zones(data) == [(b"\x00", 1)]


@pytest.mark.parametrize("damage, message", [
    (lambda d: b"XXXXXXXX" + d[8:], "bad magic"),
    (lambda d: d[:-4], "header says"),
    (lambda d: d[:-1] + bytes([d[-1] ^ 0xFF]), "checksum"),
])
def test_damaged_images_are_rejected(damage, message):
    with pytest.raises(image.ImageError, match=message):
        image.read_header(damage(_tiny_image()))


def test_data_plane_rejects_a_truncated_image(tmp_path):
    path = tmp_path / "bad.image"
    path.write_bytes(_tiny_image()[:-8])
    with pytest.raises(ValueError, match="header says"):
        _dataplane.Image(str(path))
