# SPDX-License-Identifier: MIT
"""The Prometheus metrics endpoint: the workers' counters, TCP, the AF_XDP backend's kernel
fallback, zones and workers, read through the server's StateView at scrape time (nothing is
counted twice or kept in Python)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from fastdns.controlblock import DROP_REASONS, RRL_CLASSES
from fastdns.state import StateView
from fastdns.xfrout import NOTIFIES_SENT

RCODES = ("noerror", "formerr", "servfail", "nxdomain", "notimp", "refused")
QTYPES = ("a", "aaaa", "mx", "txt", "ns", "soa", "cname", "srv", "ptr", "any", "other")


class ServerCollector:
    """Turns one scrape into metric families from the running server's state."""

    def __init__(self, state: StateView) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        workers = self.state.worker_counters()
        sources = self.state.counter_sources()
        tcp = dict(sources)["tcp"]

        def counter(name: str, doc: str, key: str) -> CounterMetricFamily:
            family = CounterMetricFamily(name, doc, labels=["worker"])
            for worker, counts in sources:
                family.add_metric([worker], counts.get(key, 0))
            return family

        yield counter("fastdns_queries", "DNS messages received", "rx")
        yield counter("fastdns_responses", "DNS replies sent", "tx")
        yield counter("fastdns_dropped", "Messages dropped unanswered (malformed, QR=1)", "dropped")
        yield counter("fastdns_truncated", "Replies sent with TC=1", "truncated")
        yield counter("fastdns_send_errors", "Replies the kernel refused to send", "send_errors")
        by_rcode = CounterMetricFamily("fastdns_responses_by_rcode", "Replies by RCODE",
                                       labels=["worker", "rcode"])
        by_qtype = CounterMetricFamily("fastdns_queries_by_qtype", "Queries by QTYPE",
                                       labels=["worker", "qtype"])
        for worker, counts in sources:
            for rcode in RCODES:
                by_rcode.add_metric([worker, rcode.upper()], counts.get(rcode, 0))
            for qtype in QTYPES:
                by_qtype.add_metric([worker, qtype.upper()], counts.get(f"q_{qtype}", 0))
        yield by_rcode
        yield by_qtype
        # AF_XDP frames dropped before their DNS message was read; also in fastdns_dropped
        by_reason = CounterMetricFamily("fastdns_dropped_frames_by_reason",
                                        f"AF_XDP frames dropped by reason ({', '.join(DROP_REASONS)})",
                                        labels=["worker", "reason"])
        for worker, counts in workers:
            for reason in DROP_REASONS:
                by_reason.add_metric([worker, reason], counts.get(f"drop_{reason}", 0))
        yield by_reason
        yield from self._abuse(sources)
        restarts = CounterMetricFamily("fastdns_worker_restarts", "Worker restarts",
                                       labels=["worker", "cpu"])
        for w in self.state.supervisor.workers:
            restarts.add_metric([str(w.slot), str(w.cpu)], w.restarts)
        yield restarts
        serial = GaugeMetricFamily("fastdns_zone_serial", "SOA serial served", labels=["zone"])
        for zone, zone_serial in self.state.zone_serials():
            serial.add_metric([zone], zone_serial)
        yield serial
        expiry = GaugeMetricFamily("fastdns_zone_signature_expiry_seconds",
                                   "Seconds until the signed zone's first RRSIG expires (negative: expired)",
                                   labels=["zone"])
        when = GaugeMetricFamily("fastdns_zone_signature_expiration_timestamp_seconds",
                                 "When the signed zone's first RRSIG expires (seconds since the epoch)",
                                 labels=["zone"])
        now = int(time.time())
        for zone, left in self.state.signature_expiries():
            expiry.add_metric([zone], left)
            when.add_metric([zone], now + left)
        yield expiry
        yield when
        yield from self._transfers()
        yield GaugeMetricFamily("fastdns_image_generation", "Published image generation",
                                value=self.state.generation)
        yield GaugeMetricFamily("fastdns_tcp_connections", "Open TCP connections",
                                value=tcp.get("connections_open", 0))


    def _abuse(self, sources: list[tuple[str, dict[str, int]]]) -> Iterator[Metric]:
        """Response rate limiting, by class and action (dropped, slipped), and DNS cookies."""
        limited = CounterMetricFamily("fastdns_rate_limited", "Responses over the rate limit, by response class "
                                      "and action (dropped; slipped: sent truncated or as BADCOOKIE)",
                                      labels=["worker", "class", "action"])
        cookies = CounterMetricFamily("fastdns_cookies", "Queries with a DNS COOKIE option, by result (valid: "
                                      "with our server cookie; other: a new one was sent) and BADCOOKIE sent",
                                      labels=["worker", "result"])
        for worker, counts in sources:
            for cls in RRL_CLASSES:
                for action in ("dropped", "slipped"):
                    limited.add_metric([worker, cls, action], counts.get(f"rrl_{action}_{cls}", 0))
            valid = counts.get("cookie_valid", 0)
            cookies.add_metric([worker, "valid"], valid)
            cookies.add_metric([worker, "other"], counts.get("cookies", 0) - valid)
            cookies.add_metric([worker, "badcookie"], counts.get("badcookie", 0))
        yield limited
        yield cookies

    def _transfers(self) -> Iterator[Metric]:
        """Secondary zones (transfers in, NOTIFY received, expiry) and transfers out."""
        transfers = CounterMetricFamily("fastdns_zone_transfers", "Zone transfers in, by result (ok; failed: "
                                        "a check that reached no primary or got no zone)", labels=["zone", "result"])
        notifies = CounterMetricFamily("fastdns_zone_notifies_received", "NOTIFY received for a secondary zone, "
                                       "by result (accepted; refused: not from its primaries, or unsigned)",
                                       labels=["zone", "result"])
        primary = GaugeMetricFamily("fastdns_zone_primary_serial", "The primary's SOA serial at the last check",
                                    labels=["zone"])
        expired = GaugeMetricFamily("fastdns_zone_expired", "1: past its SOA EXPIRE without a primary (SERVFAIL)",
                                    labels=["zone"])
        secondaries = self.state.transfers.zones.values() if self.state.transfers is not None else ()
        for s in secondaries:
            zone = s.origin.to_text(True)
            transfers.add_metric([zone, "ok"], s.transfers)
            transfers.add_metric([zone, "failed"], s.failures)
            notifies.add_metric([zone, "accepted"], s.notifies)
            notifies.add_metric([zone, "refused"], s.notifies_refused)
            if s.primary_serial is not None:
                primary.add_metric([zone], s.primary_serial)
            expired.add_metric([zone], int(s.expired))
        yield transfers
        yield notifies
        yield primary
        yield expired
        out = CounterMetricFamily("fastdns_transfers_out", "AXFR/IXFR requests over TCP, by result",
                                  labels=["result"])
        sent = self.state.tcp.transfers
        out.add_metric(["served"], sent.served if sent is not None else 0)
        out.add_metric(["refused"], sent.refused if sent is not None else 0)
        yield out
        notify_out = CounterMetricFamily("fastdns_notifies_sent", "NOTIFY sent to secondaries, by outcome",
                                         labels=["result"])
        for result, count in NOTIFIES_SENT.items():
            notify_out.add_metric([result], count)
        yield notify_out


def start_metrics(state: StateView, host: str, port: int) -> None:
    """Serve /metrics over HTTP from a daemon thread of the control process."""
    registry = CollectorRegistry()
    registry.register(ServerCollector(state))
    start_http_server(port, addr=host, registry=registry)
