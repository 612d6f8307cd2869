# SPDX-License-Identifier: MIT
"""How far a load or reload has got: records parsed, names compiled, seconds.  Written by
the loading thread, read by the log and by `fastdns status`."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TypedDict

log = logging.getLogger("fastdns")

#: zones smaller than this load too fast to report on
REPORT_MIN_RECORDS = 100_000


class ProgressReport(TypedDict):
    phase: str  #: "parsing", "compiling" or "publishing"
    zone: str  #: the zone being parsed or compiled
    records: int  #: records parsed so far, every zone of this load
    names_done: int  #: names of the zone being compiled, done so far
    names_total: int
    seconds: float  #: since the load began


@dataclass
class LoadProgress:
    started: float = field(default_factory=time.monotonic)
    phase: str = "parsing"
    zone: str = ""
    records: int = 0
    names_done: int = 0
    names_total: int = 0

    def parsing(self, zone: str) -> None:
        self.phase, self.zone = "parsing", zone

    def parsed(self, zone: str, records: int, seconds: float) -> None:
        self.records += records
        if records >= REPORT_MIN_RECORDS:
            log.info("%s: %d records parsed in %.2f s (%s)", zone, records, seconds, self.line())

    def compiling(self, zone: str, done: int, total: int) -> None:
        """The compilers' progress callback."""
        self.phase, self.zone, self.names_done, self.names_total = "compiling", zone, done, total
        log.info("compiling %s: %d/%d names (%d%%; %s)", zone, done, total, 100 * done // max(total, 1),
                 self.line())

    def publishing(self) -> None:
        self.phase = "publishing"

    def line(self) -> str:
        names = f", {self.names_done:,}/{self.names_total:,} names compiled" if self.names_total else ""
        return f"{self.records:,} records parsed{names}, {time.monotonic() - self.started:.1f} s"

    def report(self) -> ProgressReport:
        return ProgressReport(phase=self.phase, zone=self.zone, records=self.records,
                              names_done=self.names_done, names_total=self.names_total,
                              seconds=round(time.monotonic() - self.started, 1))
