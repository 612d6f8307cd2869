# SPDX-License-Identifier: MIT
"""The control block: a small shared file holding the image generation and the workers'
counters.  Layout (little-endian), mirrored by ext/control.pxi and ext/counters.pxi (the
contract test, tests/unit/test_contract.py, compares every constant below with them):

    0   magic "FDNSCTL1"
    8   generation (u64): the image workers must answer from, written by the control process
    16  slot count (u32), slot size in bytes (u32)
    24  policy (POLICY, fastdns.policy): rate limiting and DNS cookies, written before the
        generation that brings it (workers take it when they switch images)
    128 one slot per worker, SLOT_SIZE bytes: u64 counters in the order of COUNTERS

Each worker writes only its own slot; the control process only reads them.
"""

from __future__ import annotations

import mmap
import os
import struct

MAGIC = b"FDNSCTL1"
HEADER_FIELDS = ("magic", "generation", "slot_count", "slot_size", "policy")
HEADER = struct.Struct("<8sQII48s")
HEADER_SIZE = 128
GENERATION_OFFSET = 8
POLICY_OFFSET = 24
#: ext/guard.pxi ctl_policy
POLICY_FIELDS = ("rrl_rate", "rrl_slip", "rrl_ipv4_prefix", "rrl_ipv6_prefix", "cookies",
                 "cookie_previous", "reserved", "cookie_secret", "cookie_secret_previous")
POLICY = struct.Struct("<IIBBBBI16s16s")
COOKIE_SECRET_SIZE = 16
SLOT_SIZE = 512  # room for 64 counters; a multiple of the cache line, so slots share no line

#: Counter names in slot order (ext/counters.pxi).
COUNTERS = (
    "rx", "tx", "noerror", "formerr", "servfail", "nxdomain", "notimp", "refused",
    "badvers", "dropped", "truncated", "edns", "batches", "send_errors", "image_switches",
    "q_a", "q_aaaa", "q_mx", "q_txt", "q_ns", "q_soa", "q_cname", "q_srv", "q_ptr", "q_any",
    "q_other",
    # AF_XDP frames dropped by reason, each also in "dropped" (which adds the DNS messages
    # dropped: shorter than a header, QR=1, oversized)
    "drop_short", "drop_not_ip", "drop_ip_header", "drop_length",
    # response rate limiting: responses dropped (also in "dropped") and slipped (sent
    # truncated, also in "truncated", or BADCOOKIE), by class
    "rrl_dropped_answer", "rrl_dropped_nxdomain", "rrl_dropped_referral", "rrl_dropped_error",
    "rrl_slipped_answer", "rrl_slipped_nxdomain", "rrl_slipped_referral", "rrl_slipped_error",
    # DNS cookies: queries with a COOKIE option, those with a valid server cookie, BADCOOKIE sent
    "cookies", "cookie_valid", "badcookie",
)

#: The response classes rate limiting budgets separately (counters rrl_*_<class>).
RRL_CLASSES = ("answer", "nxdomain", "referral", "error")

#: The reasons an AF_XDP frame is dropped before its DNS message is read (counter drop_<reason>).
DROP_REASONS = ("short", "not_ip", "ip_header", "length")


class ControlBlock:
    """The control process's handle on the shared control block."""

    def __init__(self, path: str, slots: int) -> None:
        self.path = path
        self.slots = slots
        self.size = HEADER_SIZE + slots * SLOT_SIZE
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(fd, self.size)
            self._map = mmap.mmap(fd, self.size)
        finally:
            os.close(fd)
        HEADER.pack_into(self._map, 0, MAGIC, 0, slots, SLOT_SIZE, bytes(POLICY.size))

    @staticmethod
    def counters_offset(slot: int) -> int:
        return HEADER_SIZE + slot * SLOT_SIZE

    @property
    def generation(self) -> int:
        return struct.unpack_from("<Q", self._map, GENERATION_OFFSET)[0]

    def publish(self, generation: int) -> None:
        """Make generation the image workers answer from; they switch before their next batch."""
        struct.pack_into("<Q", self._map, GENERATION_OFFSET, generation)

    def set_policy(self, policy: bytes) -> None:
        """The policy (POLICY, packed) workers take with the next generation published."""
        assert len(policy) == POLICY.size
        self._map[POLICY_OFFSET:POLICY_OFFSET + POLICY.size] = policy

    def counters(self, slot: int) -> dict[str, int]:
        values = struct.unpack_from(f"<{len(COUNTERS)}Q", self._map, self.counters_offset(slot))
        return dict(zip(COUNTERS, values))

    def reset_slot(self, slot: int) -> None:
        off = self.counters_offset(slot)
        self._map[off:off + SLOT_SIZE] = bytes(SLOT_SIZE)

    def totals(self) -> dict[str, int]:
        total = dict.fromkeys(COUNTERS, 0)
        for slot in range(self.slots):
            for key, value in self.counters(slot).items():
                total[key] += value
        return total

    def close(self) -> None:
        self._map.close()
