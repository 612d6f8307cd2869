# SPDX-License-Identifier: MIT
"""Publisher: the image written where its pages were taken ahead is the image written fresh."""

from __future__ import annotations

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


@pytest.mark.parametrize("estimate", [0.5, 2.5, 40.0], ids=["short", "about", "far over"])
def test_an_image_written_over_pages_taken_ahead_is_the_one_written_fresh(tmp_path, monkeypatch, estimate):
    fresh = published_image(tmp_path, "fresh")
    monkeypatch.setattr(publisher, "IMAGE_PAGES_MIN_BYTES", 0)
    monkeypatch.setattr(publisher, "IMAGE_BYTES_PER_RECORD_BYTE", estimate)
    taken: list[int] = []
    start_for = publisher._ImagePages.start_for
    monkeypatch.setattr(publisher._ImagePages, "start_for",
                        classmethod(lambda cls, path, size: taken.append(size) or start_for(path, size)))
    assert published_image(tmp_path, "ahead") == fresh
    assert taken and taken[0] > 0


def test_an_image_that_cannot_be_written_leaves_no_file(tmp_path, monkeypatch):
    path = tmp_path / "z.test.zone"
    path.write_text(ZONE)
    run_dir = RunDir(str(tmp_path / "full"), str(tmp_path / "full" / "control.sock"))
    run_dir.lock()
    out = Publisher(run_dir, run_dir.open_control_block(1), CompileOptions(), 1232)
    out.progress = LoadProgress()

    def full(self, *args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(publisher.CompileResult, "write_image", full)
    with pytest.raises(OSError):
        out.publish([load_native_zone("z.test", str(path))])
    assert out.generation == 0 and sorted(p.name for p in Path(out.run_dir.path).iterdir()) == [
        "control.block", "lock"]
