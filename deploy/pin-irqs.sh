#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Pin each RX queue's interrupt of a NIC to the CPU whose worker owns that queue, so a
# packet is received, answered and sent on one core ("one core owns one queue").
#
#   pin-irqs.sh IFACE CPU [CPU ...]     queue i's IRQ goes to the i-th CPU listed
#   pin-irqs.sh IFACE --show            print the current IRQ -> CPU mapping
#
# Queue interrupts are found in /proc/interrupts by the names drivers give them
# (IFACE-TxRx-N, IFACE-rx-N, IFACE-N, ...). irqbalance would undo this: stop it, or list
# these IRQs in its IRQBALANCE_BANNED_IRQS.
set -euo pipefail

iface=${1:?usage: pin-irqs.sh IFACE CPU [CPU ...] | IFACE --show}
shift
mapfile -t irqs < <(awk -v ifc="$iface" '$NF ~ "^"ifc"[-.@]" {sub(":", "", $1); print $1}' /proc/interrupts)
if [ ${#irqs[@]} -eq 0 ]; then
  echo "pin-irqs.sh: no queue interrupts named $iface-* in /proc/interrupts (virtual NIC?)" >&2
  exit 1
fi
if [ "${1:-}" = "--show" ]; then
  for irq in "${irqs[@]}"; do
    echo "IRQ $irq ($(awk -v i="$irq:" '$1 == i {print $NF}' /proc/interrupts)) -> CPUs $(cat /proc/irq/$irq/smp_affinity_list)"
  done
  exit 0
fi
[ $# -ge 1 ] || { echo "pin-irqs.sh: list the workers' CPUs, in queue order" >&2; exit 2; }
cpus=("$@")
for i in "${!irqs[@]}"; do
  cpu=${cpus[$((i % ${#cpus[@]}))]}
  echo "$cpu" > "/proc/irq/${irqs[$i]}/smp_affinity_list"
  echo "IRQ ${irqs[$i]} -> CPU $cpu"
done
