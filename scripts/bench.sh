#!/bin/bash
# Prints mantlet's figures: cold build time (empty package cache), warm rebuild time, image
# sizes, and seconds from QEMU start to multi-user. Figures, not pass/fail. Needs root and
# `make deps build`.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/mantlet-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

seconds() { local s=$(date +%s.%N); "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log"; exit 1; }; echo "$(date +%s.%N) - $s" | bc; }

cold=$(seconds bin/mantlet build --cache-dir "$work/cache" -o "$work/cold")
warm=$(seconds bin/mantlet build --cache-dir "$work/cache" -o "$work/warm")
raw="$work/warm/node.raw"
qcow="$work/warm/node.qcow2"
boot=$(seconds bin/mantlet qemu run "$qcow" --accel "${MANTLET_QEMU_ACCEL:-auto}" --wait-for 'multi-user.target' --timeout 15m)

printf 'cold build (empty package cache)   %6.1f s\n' "$cold"
printf 'warm rebuild (cached packages)     %6.1f s\n' "$warm"
printf 'raw image (virtual / allocated)    %6d MiB / %d MiB\n' $(( $(stat -c %s "$raw") >> 20 )) $(( $(du -k "$raw" | cut -f1) >> 10 ))
printf 'qcow2 image                        %6d MiB\n' $(( $(stat -c %s "$qcow") >> 20 ))
printf 'UKI (kernel + initrd + cmdline)    %6d MiB\n' $(( $(stat -c %s "$work/warm/node.efi") >> 20 ))
printf 'QEMU start to multi-user (%s)     %6.1f s\n' "${MANTLET_QEMU_ACCEL:-auto}" "$boot"
