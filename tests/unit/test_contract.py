# SPDX-License-Identifier: MIT
"""The contract between the planes, single-sourced: every constant, size and offset the
data plane was compiled with (ext/, through contract()) equals what fastdns/image.py and
fastdns/controlblock.py define, and docs/image-format.md's tables match the structs."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from fastdns import _dataplane, controlblock, image

DOC = Path(__file__).resolve().parents[2] / "docs" / "image-format.md"


def _layout(fmt: struct.Struct, names: tuple[str, ...]) -> dict[str, int]:
    """Size and field offsets of a packed little-endian struct format, by field name."""
    codes = re.findall(r"\d*[a-zA-Z]", fmt.format.lstrip("<"))
    assert len(codes) == len(names), f"{fmt.format}: {len(codes)} fields, {len(names)} names"
    offsets, pos = {"size": fmt.size}, 0
    for name, code in zip(names, codes):
        offsets[name] = pos
        pos += struct.calcsize("<" + code)
    return offsets


def python_contract() -> dict:
    """The same dict as the extension's contract(), from the Python side's definitions."""
    structs = {
        "header": _layout(image.HEADER, image.HEADER_FIELDS),
        "bucket": _layout(image.BUCKET, image.BUCKET_FIELDS),
        "node": _layout(image.NODE, image.NODE_FIELDS),
        "entry": _layout(image.ENTRY, image.ENTRY_FIELDS),
        "zone": _layout(image.ZONE, image.ZONE_FIELDS),
        "record": _layout(image.RECORD, image.RECORD_FIELDS),
        "signed": _layout(image.SIGNED, image.SIGNED_FIELDS),
        "cover": _layout(image.COVER, image.COVER_FIELDS),
        "proofs": _layout(image.PROOFS, image.PROOFS_FIELDS),
        "chain": _layout(image.CHAIN, image.CHAIN_FIELDS),
        "nsec_entry": _layout(image.NSEC_ENTRY, image.NSEC_ENTRY_FIELDS),
        "nsec3_entry": _layout(image.NSEC3_ENTRY, image.NSEC3_ENTRY_FIELDS),
        "rrs": _layout(image.RRS, image.RRS_FIELDS),
        "control_header": _layout(controlblock.HEADER, controlblock.HEADER_FIELDS),
        "control_policy": _layout(controlblock.POLICY, controlblock.POLICY_FIELDS),
    }
    return {
        "image_magic": image.MAGIC,
        "image_version": image.VERSION,
        "name_hash_seed": image.NAME_HASH_SEED,
        "name_hash_multiplier": image.NAME_HASH_MULTIPLIER,
        "node_flags": {"apex": image.NODE_APEX, "cut": image.NODE_CUT, "ent": image.NODE_ENT,
                       "wildcard": image.NODE_WILDCARD},
        "record_flags": {"aa": image.FLAG_AA, "tc": image.FLAG_TC,
                         "rcode_mask": image.RCODE_MASK},
        "record_ext": {"signed": image.EXT_SIGNED, "cover": image.EXT_COVER, "proofs": image.EXT_PROOFS},
        "chain_kinds": {"nsec": image.CHAIN_NSEC, "nsec3": image.CHAIN_NSEC3},
        "counters": {name: i for i, name in enumerate(controlblock.COUNTERS)},
        "cookie_secret_size": controlblock.COOKIE_SECRET_SIZE,
        "n_counters": len(controlblock.COUNTERS),
        "control_magic": controlblock.MAGIC,
        "control_header_size": controlblock.HEADER_SIZE,
        "control_generation_offset": controlblock.GENERATION_OFFSET,
        "control_slot_size": controlblock.SLOT_SIZE,
        "image_capsule": "fastdns.image_t",
        "structs": structs,
    }


def test_the_data_plane_was_compiled_with_the_python_contract():
    assert _dataplane.contract() == python_contract()


def test_both_extensions_share_one_contract():
    xdp = pytest.importorskip("fastdns._xdp", reason="fastdns._xdp was not built")
    assert xdp.contract() == _dataplane.contract()


def test_the_capsule_is_named_as_the_contract_says(tmp_path):
    path = tmp_path / "tiny.image"
    rec = image.Record(flags=5, ancount=0, nscount=0, arcount=0, tail=b"", qname_len=0)
    node = image.Node(b"\x00", image.NODE_APEX, 0, (), rec, rec)
    path.write_bytes(image.ImageWriter([node], [image.ZoneInfo(b"\x00", 1)], rec).build())
    capsule = _dataplane.Image(str(path)).capsule()
    assert f'"{_dataplane.contract()["image_capsule"]}"' in repr(capsule)


def test_python_side_is_self_consistent():
    assert image.HEADER.size == 64
    assert controlblock.HEADER.size <= controlblock.HEADER_SIZE
    assert controlblock.POLICY.size == 48
    assert len(controlblock.COUNTERS) * 8 <= controlblock.SLOT_SIZE
    assert len(set(controlblock.COUNTERS)) == len(controlblock.COUNTERS)
    drops = controlblock.COUNTERS.index("drop_short")
    assert [f"drop_{r}" for r in controlblock.DROP_REASONS] == list(controlblock.COUNTERS[drops:drops + 4])


def _doc_table(heading: str) -> list[tuple[str, str]]:
    """(off, field) of each row of the table under a heading of docs/image-format.md."""
    text = DOC.read_text()
    section = text[text.index(heading):]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0] not in ("off", "---") and not cells[0].startswith("-"):
            rows.append((cells[0], cells[2].strip("`")))
    return rows


@pytest.mark.parametrize("heading, fmt, names", [
    ("### Header", image.HEADER, image.HEADER_FIELDS),
    ("### Bucket", image.BUCKET, image.BUCKET_FIELDS),
    ("### Node", image.NODE, image.NODE_FIELDS),
    ("### Entry", image.ENTRY, image.ENTRY_FIELDS),
    ("### Zone", image.ZONE, image.ZONE_FIELDS),
    ("### Record", image.RECORD, image.RECORD_FIELDS),
    ("### Signed", image.SIGNED, image.SIGNED_FIELDS),
    ("### Cover", image.COVER, image.COVER_FIELDS),
    ("### Proofs", image.PROOFS, image.PROOFS_FIELDS),
    ("### Chain", image.CHAIN, image.CHAIN_FIELDS),
    ("### NSEC entry", image.NSEC_ENTRY, image.NSEC_ENTRY_FIELDS),
    ("### NSEC3 entry", image.NSEC3_ENTRY, image.NSEC3_ENTRY_FIELDS),
    ("### RRs", image.RRS, image.RRS_FIELDS),
    ("## Control block", controlblock.HEADER, controlblock.HEADER_FIELDS),
])
def test_docs_tables_match_the_structs(heading, fmt, names):
    offsets = _layout(fmt, names)
    expected = [(str(offsets[name]), name) for name in names]
    assert _doc_table(heading)[:len(names)] == expected
    if heading.startswith("###"):       # the image structs give their size in the heading
        assert f"({fmt.size} bytes" in DOC.read_text().split(heading, 1)[1].splitlines()[0]


def _udp_worker(path: str, control_len: int, counters_off: int) -> _dataplane.UdpWorker:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return _dataplane.UdpWorker([sock.fileno()], 1232, path, 0, control_len, counters_off)


def test_the_worker_checks_the_control_block_it_is_given(tmp_path):
    path = str(tmp_path / "control.block")
    block = controlblock.ControlBlock(path, 2)
    try:
        assert _udp_worker(path, block.size, block.counters_offset(1)).published_generation == 0
        for size, off in [(block.size, block.counters_offset(2)),     # past slot_count
                          (block.size, block.counters_offset(1) + 8),  # not a slot
                          (block.size, 8),                             # the header
                          (block.size + 4096, block.counters_offset(0))]:  # past the file
            with pytest.raises(ValueError):
                _udp_worker(path, size, off)
        with open(path, "r+b") as f:
            f.write(b"XXXXXXXX")
        with pytest.raises(ValueError, match="not a fastdns control block"):
            _udp_worker(path, block.size, block.counters_offset(0))
    finally:
        block.close()
