# SPDX-License-Identifier: MIT
"""Publisher: the image compiled into its file is the image compiled in memory; a failed write leaves nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fastdns import publisher
from fastdns.progress import LoadProgress
from fastdns.publisher import CompileOptions, Publisher
from fastdns.rundir import RunDir
from fastdns.zone import load_native_zone

ZONE = """$TTL 300
@ IN SOA ns1 hostmaster 1 3600 900 604800 60
@ IN NS ns1
ns1 IN A 192.0.2.1
""" + "".join(f"h{i} IN A 192.0.2.{i % 250}\nh{i} IN TXT \"host {i}\"\n" for i in range(500))


def published_image(tmp_path: Path, name: str) -> bytes:
    path = tmp_path / "z.test.zone"
    path.write_text(ZONE)
    run_dir = RunDir(str(tmp_path / name), str(tmp_path / name / "control.sock"))
    run_dir.lock()
    out = Publisher(run_dir, run_dir.open_control_block(1), CompileOptions(), 1232)
    out.progress = LoadProgress()
    out.publish([load_native_zone("z.test", str(path))])
    return Path(run_dir.image_path(1)).read_bytes()


@pytest.mark.parametrize("estimate", [0.01, 2.5, 40.0], ids=["short", "about", "far over"])
@pytest.mark.parametrize("file", ["fresh", "over an older image"])
def test_an_image_compiled_into_its_file_is_the_one_compiled_in_memory(tmp_path, monkeypatch, estimate, file):
    from fastdns import nativecompiler

    path = tmp_path / "z.test.zone"
    path.write_text(ZONE)
    zone = load_native_zone("z.test", str(path)).native
    in_memory = nativecompiler.compile_native([zone]).image
    monkeypatch.setattr(nativecompiler, "IMAGE_BYTES_PER_RECORD_BYTE", estimate)  # the room first mapped
    target = tmp_path / "image.tmp"
    target.write_bytes(os.urandom(len(in_memory) * 2) if file != "fresh" else b"")
    fd = os.open(target, os.O_RDWR)
    try:
        result = nativecompiler.compile_native([zone], image_file=(fd, str(target)))
    finally:
        os.close(fd)
    result.write_image(str(target), reuse=True)
    assert target.read_bytes() == bytes(in_memory)


def test_an_image_that_cannot_be_written_leaves_no_file(tmp_path, monkeypatch):
    path = tmp_path / "z.test.zone"
    path.write_text(ZONE)
    run_dir = RunDir(str(tmp_path / "full"), str(tmp_path / "full" / "control.sock"))
    run_dir.lock()
    out = Publisher(run_dir, run_dir.open_control_block(1), CompileOptions(), 1232)
    out.progress = LoadProgress()

    def full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(publisher.CompileResult, "write_image", full)
    with pytest.raises(OSError):
        out.publish([load_native_zone("z.test", str(path))])
    assert out.generation == 0 and sorted(p.name for p in Path(out.run_dir.path).iterdir()) == [
        "control.block", "lock"]
