#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Pin each RX queue's interrupt of a NIC to the CPU whose worker owns that queue, so a
# packet is received, answered and sent on one core ("one core owns one queue").
#
#   pin-irqs.sh [OPTIONS] IFACE CPU [CPU ...]   queue N's IRQ goes to the N-th CPU listed
#                                               (counting from 0; wraps around past the end)
#   pin-irqs.sh [OPTIONS] IFACE --show          print each RX queue's IRQ and its CPUs now
#
#   --dry-run            print what would be pinned, write nothing
#   --interrupts FILE    read FILE instead of /proc/interrupts (for tests)
#   --device DEV         the NIC's device name (PCI address such as 0000:3b:00.0, or virtioN)
#                        instead of the one in /sys/class/net/IFACE/device
#
# The queue number is taken from the IRQ's name, never from its place in /proc/interrupts:
#   IFACE-TxRx-N, IFACE-rx-N, IFACE-rxtx-N (also with a driver prefix, ice-IFACE-TxRx-N),
#   IFACE-N, mlx5_compN@pci:DEV, DEV-input.N (virtio-net; DEV is virtioN).
# TX-only IRQs (IFACE-tx-N, DEV-output.N) and others (IFACE-config, async events) are left
# alone. irqbalance would undo this: stop it, or list these IRQs in IRQBALANCE_BANNED_IRQS.
set -euo pipefail

usage="usage: pin-irqs.sh [--dry-run] [--interrupts FILE] [--device DEV] IFACE (CPU [CPU ...] | --show)"
interrupts=/proc/interrupts
device=
dry_run=0
while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) dry_run=1; shift ;;
    --interrupts) interrupts=${2:?$usage}; shift 2 ;;
    --device) device=${2:?$usage}; shift 2 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) break ;;
  esac
done
iface=${1:?$usage}
shift
if [ -z "$device" ] && [ -e "/sys/class/net/$iface/device" ]; then
  device=$(basename "$(readlink -f "/sys/class/net/$iface/device")")
fi

# "IRQ QUEUE NAME" for each RX queue interrupt of the interface, in queue order.
rx_queue_irqs() {
  awk -v ifc="$iface" -v dev="$device" '
    function number(s) { return s ~ /^[0-9]+$/ ? s + 0 : -1 }
    $1 ~ /^[0-9]+:$/ {
      irq = substr($1, 1, length($1) - 1); name = $NF; q = -1
      if (dev != "" && name ~ /^mlx5_comp[0-9]+@/ && substr(name, index(name, "@") + 1) == "pci:" dev) {
        q = number(substr(name, 10, index(name, "@") - 10))
      } else if (dev != "" && index(name, dev "-input.") == 1) {
        q = number(substr(name, length(dev "-input.") + 1))
      } else {
        at = index(name, ifc "-")
        if (at == 1 || (at > 1 && substr(name, at - 1, 1) == "-")) {
          rest = substr(name, at + length(ifc) + 1)   # TxRx-0, rx-0, tx-0, 0, ...
          n = split(rest, part, "-")
          if (n == 1) q = number(part[1])
          else if (n == 2 && tolower(part[1]) ~ /^(txrx|rx|rxtx)$/) q = number(part[2])
        }
      }
      if (q >= 0) print irq, q, name
    }' "$interrupts" | sort -k2,2n
}

mapfile -t lines < <(rx_queue_irqs)
if [ ${#lines[@]} -eq 0 ]; then
  echo "pin-irqs.sh: no RX queue interrupts for $iface in $interrupts (virtual NIC?)" >&2
  exit 1
fi
if [ "${1:-}" = "--show" ]; then
  for line in "${lines[@]}"; do
    read -r irq queue name <<<"$line"
    echo "queue $queue: IRQ $irq ($name) -> CPUs $(cat "/proc/irq/$irq/smp_affinity_list" 2>/dev/null || echo '?')"
  done
  exit 0
fi
[ $# -ge 1 ] || { echo "pin-irqs.sh: list the workers' CPUs, in queue order" >&2; exit 2; }
cpus=("$@")
for line in "${lines[@]}"; do
  read -r irq queue name <<<"$line"
  cpu=${cpus[$((queue % ${#cpus[@]}))]}
  [ "$dry_run" = 1 ] || echo "$cpu" > "/proc/irq/$irq/smp_affinity_list"
  echo "queue $queue: IRQ $irq ($name) -> CPU $cpu"
done
