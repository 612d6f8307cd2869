# SPDX-License-Identifier: MIT
"""The pieces of fastdns.transfer that need no network: an IXFR's sequences read (RFC 1995
4), the copy's lines deleted, serial arithmetic (RFC 1982)."""

from __future__ import annotations

import pytest

from fastdns.transfer import NotIncremental, _delete_lines, _ixfr_diffs, serial_newer

SOA, A = 6, 1


def soa(serial: int) -> tuple[int, int, str]:
    return (SOA, serial, f"t.\t300\tIN\tSOA\tns.t. h.t. {serial} 1 1 1 1\n")


def a(name: str) -> tuple[int, None, str]:
    return (A, None, f"{name}.t.\t300\tIN\tA\t192.0.2.1\n")


def test_an_ixfr_of_two_versions_gives_each_version_s_deletions_and_additions():
    records = iter([soa(3), soa(1), a("old"), soa(2), a("mid"), soa(2), a("mid"), soa(3), a("new"), soa(3)])
    diffs, serial = _ixfr_diffs(records, 1)
    assert serial == 3
    assert [(len(d), len(ad)) for _, d, _, ad in diffs] == [(1, 1), (1, 1)]
    assert diffs[0][1] == [a("old")[2]] and diffs[1][3] == [a("new")[2]]


def test_an_ixfr_answered_with_the_serial_we_have_changes_nothing():
    assert _ixfr_diffs(iter([soa(5)]), 5) == ([], 5)


def test_an_ixfr_answered_with_the_whole_zone_asks_for_an_axfr():
    with pytest.raises(NotIncremental, match="whole zone"):
        _ixfr_diffs(iter([soa(3), a("x"), soa(3)]), 1)


@pytest.mark.parametrize("count", [1, 100])  # one by one, or one pass over the lines
def test_deleted_lines_go_each_once_and_a_missing_one_asks_for_an_axfr(count):
    text = "".join(f"n{i}.t.\t300\tIN\tA\t192.0.2.1\n" for i in range(1000)) + "n0.t.\t300\tIN\tA\t192.0.2.1\n"
    gone = [f"n{i}.t.\t300\tIN\tA\t192.0.2.1\n" for i in range(count)]
    kept = _delete_lines(text, gone)
    assert len(kept.splitlines()) == 1001 - count and kept.count("n0.t.") == 1
    with pytest.raises(NotIncremental, match="no record"):
        _delete_lines(text, ["missing.t.\t300\tIN\tA\t192.0.2.1\n"] * count)


def test_serial_arithmetic_wraps_around():
    assert serial_newer(2, 1) and not serial_newer(1, 2) and not serial_newer(7, 7)
    assert serial_newer(0, 2**32 - 1) and not serial_newer(2**31 + 5, 5)
