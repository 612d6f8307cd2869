# SPDX-License-Identifier: MIT
"""deploy/pin-irqs.sh: RX queue numbers read from IRQ names, TX-only IRQs left alone."""

import subprocess

from tests.conftest import ROOT

SCRIPT = str(ROOT / "deploy" / "pin-irqs.sh")
INTERRUPTS = """\
            CPU0       CPU1       CPU2       CPU3
   0:         45          0          0          0   IO-APIC   2-edge      timer
  24:          0          0          0          0   PCI-MSI 524288-edge      eth0
  25:       1000          0          0          0   PCI-MSI 524289-edge      eth0-TxRx-1
  26:       1000          0          0          0   PCI-MSI 524290-edge      eth0-TxRx-0
  27:          5          0          0          0   PCI-MSI 524291-edge      eth0-tx-0
  28:          5          0          0          0   PCI-MSI 524292-edge      eth1-rx-1
  29:          5          0          0          0   PCI-MSI 524293-edge      eth1-tx-1
  30:          5          0          0          0   PCI-MSI 524294-edge      eth1-rx-0
  31:          5          0          0          0   PCI-MSI 524295-edge      eth10-3
  32:          5          0          0          0   PCI-MSI 524296-edge      ice-eth2-TxRx-2
  40:          0          0          0          0   IR-PCI-MSI 1-edge      mlx5_async0@pci:0000:3b:00.0
  41:          0          0          0          0   IR-PCI-MSI 2-edge      mlx5_comp1@pci:0000:3b:00.0
  42:          0          0          0          0   IR-PCI-MSI 3-edge      mlx5_comp0@pci:0000:3b:00.0
  43:          0          0          0          0   IR-PCI-MSI 4-edge      mlx5_comp0@pci:0000:3b:00.1
  50:          0          0          0          0   PCI-MSI 1-edge      virtio0-config
  51:          0          0          0          0   PCI-MSI 2-edge      virtio0-input.0
  52:          0          0          0          0   PCI-MSI 3-edge      virtio0-output.0
  53:          0          0          0          0   PCI-MSI 4-edge      virtio0-input.1
 NMI:          0          0          0          0   Non-maskable interrupts
"""


def pin(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "interrupts"
    path.write_text(INTERRUPTS)
    return subprocess.run([SCRIPT, "--dry-run", "--interrupts", str(path), *args],
                          capture_output=True, text=True, timeout=30)


def plan(tmp_path, *args: str) -> list[tuple[str, str]]:
    """(IRQ, CPU) pairs the script would write, in its order."""
    result = pin(tmp_path, *args)
    assert result.returncode == 0, result.stderr
    return [(line.split()[3], line.split()[-1]) for line in result.stdout.splitlines()]


def test_queue_numbers_come_from_the_names_not_the_irq_order(tmp_path):
    assert plan(tmp_path, "--device", "none", "eth0", "2", "3") == [("26", "2"), ("25", "3")]
    assert plan(tmp_path, "--device", "none", "eth1", "2", "3") == [("30", "2"), ("28", "3")]


def test_other_name_patterns(tmp_path):
    assert plan(tmp_path, "--device", "none", "eth10", "0", "1", "2", "3") == [("31", "3")]
    assert plan(tmp_path, "--device", "none", "eth2", "0", "1", "2") == [("32", "2")]
    assert plan(tmp_path, "--device", "0000:3b:00.0", "ens1f0np0", "4", "5") == [("42", "4"), ("41", "5")]
    assert plan(tmp_path, "--device", "virtio0", "ens3", "1", "0") == [("51", "1"), ("53", "0")]


def test_an_interface_without_queue_interrupts_is_reported(tmp_path):
    result = pin(tmp_path, "--device", "none", "veth0", "1")
    assert result.returncode == 1 and "no RX queue interrupts for veth0" in result.stderr
