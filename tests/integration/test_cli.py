# SPDX-License-Identifier: MIT
"""`fastdns check` and the client commands without a server."""

from tests.conftest import ZONES, fastdns_cli


def test_check_bundled_configuration():
    result = fastdns_cli("check")
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout
    assert "zone example.com OK, serial 2026112201" in result.stdout


def test_check_zone_files_with_origin_from_the_file_name():
    result = fastdns_cli("check", str(ZONES / "example.com.zone"), str(ZONES / "example.net.zone"))
    assert result.returncode == 0, result.stderr
    assert "zone example.net OK" in result.stdout


def test_check_broken_zone_prints_file_line_reason(tmp_path):
    path = tmp_path / "example.com.zone"
    path.write_text("$TTL 300\n@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n"
                    "www IN A 192.0.2.2\nwww IN CNAME ns1\n")
    result = fastdns_cli("check", str(path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{path}:6: ")
    assert "CNAME" in result.stderr


def test_check_with_explicit_origin(tmp_path):
    path = tmp_path / "db.test"
    path.write_text("$TTL 300\n@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n")
    result = fastdns_cli("check", "-o", "test.example", str(path))
    assert result.returncode == 0 and "zone test.example OK" in result.stdout


def test_reload_without_a_server_says_so(tmp_path):
    result = fastdns_cli("reload", "--socket", str(tmp_path / "none.sock"))
    assert result.returncode == 1
    assert "no control socket (is fastdns serve running?)" in result.stderr


def test_check_reports_progress_on_big_zones(tmp_path):
    path = tmp_path / "big.test.zone"
    lines = ["$TTL 300", "@ IN SOA ns1 h 1 2 3 4 5", "@ IN NS ns1", "ns1 IN A 192.0.2.1"]
    lines += [f"h{i} IN A 192.0.{i >> 8 & 255}.{i & 255}" for i in range(20500)]
    path.write_text("\n".join(lines) + "\n")
    result = fastdns_cli("check", str(path), timeout=300)
    assert result.returncode == 0, result.stderr
    assert "compiling big.test: " in result.stderr and "(99%)" in result.stderr


def test_check_compiles_with_the_configured_options(tmp_path):
    import re
    import shutil

    shutil.copy(ZONES / "example.com.zone", tmp_path)
    base = "listen: [127.0.0.1@5399]\nzones:\n  - {name: example.com, file: example.com.zone}\n"
    sizes = {}
    for name, extra in (("base", ""), ("chaos", 'version: "fastdns 1.0"\nidentity: "ns1.example"\n'),
                        ("full", "minimal_responses: false\n")):
        config = tmp_path / f"{name}.yaml"
        config.write_text(base + extra)
        result = fastdns_cli("check", "-c", str(config))
        assert result.returncode == 0, result.stderr
        sizes[name] = int(re.search(r"into a (\d+)-byte image", result.stdout).group(1))
    # CH TXT answers and the NS in every positive answer make the image bigger
    assert sizes["chaos"] > sizes["base"] and sizes["full"] > sizes["base"], sizes
