# SPDX-License-Identifier: MIT
"""The Prometheus endpoint, scraped over HTTP as Prometheus would."""

import urllib.request

from tests.conftest import free_port


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.status == 200
        return response.read().decode()


def value(text: str, prefix: str, label: str = "") -> float:
    """The sum of every sample of a metric (prefix) that carries label."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(prefix) and label in line)


def test_metrics_endpoint_reports_queries_rcodes_qtypes_and_zones(serve):
    port = free_port()
    server = serve(metrics=f"127.0.0.1@{port}")
    for _ in range(5):
        server.query("www.example.com", "A")
    server.query("nothing.example.com", "MX")
    text = scrape(port)
    assert value(text, "fastdns_queries_total{") >= 6
    assert value(text, "fastdns_responses_by_rcode_total{", 'rcode="NXDOMAIN"') == 1
    assert value(text, "fastdns_queries_by_qtype_total{", 'qtype="MX"') == 1
    assert 'fastdns_zone_serial{zone="example.com"} 2.026112201e+09' in text
    assert "fastdns_image_generation 1.0" in text
    assert "fastdns_worker_restarts_total" in text


def test_metrics_are_off_by_default(serve):
    server = serve()
    assert "Prometheus" not in server.output()
