# SPDX-License-Identifier: MIT
"""Engine.answer while another thread swaps images, as the reload thread does under TCP
and UDP fallback traffic: the image being read must stay mapped until answer returns."""

import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = r"""
import sys, threading, time
from pathlib import Path
import dns.message
from fastdns import _dataplane
from fastdns.compiler import compile_zones
from fastdns.zone import load_zone

directory, seconds = Path(sys.argv[1]), float(sys.argv[2])
paths = []
for k, extra in enumerate((10, 3000)):  # two sizes: a freed mapping is not simply reused
    zone = directory / f"z{k}.zone"
    zone.write_text("$TTL 300\n@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n"
                    "www IN A 192.0.2.80\n" + "".join(f"h{i} IN A 192.0.2.{i % 250}\n" for i in range(extra)))
    path = directory / f"image{k}"
    path.write_bytes(compile_zones([load_zone("example.com", str(zone))]).image)
    paths.append(str(path))
engine = _dataplane.Engine(_dataplane.Image(paths[0]))
query = dns.message.make_query("www.example.com", "A").to_wire()
deadline = time.monotonic() + seconds

def swap():
    i = 0
    while time.monotonic() < deadline:
        engine.set_image(_dataplane.Image(paths[i % 2]))  # drops the last reference to the old one
        i += 1

sys.setswitchinterval(1e-6)
threads = [threading.Thread(target=swap) for _ in range(3)]
for t in threads:
    t.start()
bad = answered = 0
while time.monotonic() < deadline:
    reply = engine.answer(query)
    answered += 1
    if reply is None or dns.message.from_wire(reply).answer[0][0].to_text() != "192.0.2.80":
        bad += 1
for t in threads:
    t.join()
print(answered, bad)
sys.exit(1 if bad else 0)
"""


def test_answer_survives_the_image_being_swapped_meanwhile(tmp_path):
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), "3"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    # before the fix this died with SIGSEGV (an unmapped image read without the GIL)
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    answered, bad = map(int, result.stdout.split())
    assert answered > 100 and bad == 0
