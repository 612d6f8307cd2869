# SPDX-License-Identifier: MIT
"""The opt-in reader over Knot DNS's libzscanner (native/zscanner.pyx; FASTDNS_ZSCANNER=1 builds)."""

def read_records(origin: bytes, text: bytes, start: int, first_line: int,
                 default_ttl: int) -> tuple[int, bytes, bytes] | None: ...
