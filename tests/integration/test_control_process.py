# SPDX-License-Identifier: MIT
"""The control process's Server driven in-process."""

import os
import shutil

import pytest

from fastdns import server as server_module
from fastdns.config import load_config
from fastdns.server import Server
from tests.conftest import ZONES, free_port


@pytest.fixture
def control(tmp_path):
    port = free_port()
    for name in ("example.com", "example.net"):
        shutil.copy(ZONES / f"{name}.zone", tmp_path)
    (tmp_path / "fastdns.yaml").write_text(
        f"listen: [127.0.0.1@{port}]\nworkers: 1\nrun_dir: run\nzones:\n"
        "  - {name: example.com, file: example.com.zone}\n"
        "  - {name: example.net, file: example.net.zone}\n")
    server = Server(load_config(tmp_path / "fastdns.yaml"))
    server.prepare()  # zones loaded, image published, sockets bound; no worker started
    server.port = port
    yield server
    server._cleanup()


def test_a_touched_but_unchanged_zone_is_parsed_once_then_skipped(control, monkeypatch):
    loads = []
    real_load = server_module.load_zone
    monkeypatch.setattr(server_module, "load_zone", lambda *a: loads.append(a[0]) or real_load(*a))
    path = control.zones["example.com"].filename
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    first = control._reload_sync(None)
    assert first["ok"] and not any(c["changed"] for c in first["changes"])
    assert loads == ["example.com"]  # read again: its mtime changed
    second = control._reload_sync(None)
    assert second["ok"] and loads == ["example.com"]  # the new mtime was kept: not read again
    assert control.generation == 1  # nothing was published

