# SPDX-License-Identifier: MIT
"""The image format: the name hash, the writer, and the header checks on both sides."""

import pytest

from fastdns import _dataplane, image

# Sizes, offsets, counters and every other shared constant: tests/unit/test_contract.py.


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
