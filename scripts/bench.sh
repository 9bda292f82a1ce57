#!/bin/bash
# Prints mantlet's figures: cold build time (empty package cache), warm rebuild time, image
# sizes, and seconds from QEMU start to the end of the boot (the image's 'mantlet: boot
# finished' line). Figures, not pass/fail. Needs root and `make deps build`.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/mantlet-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

# Bytes received by every interface but loopback: what a build downloads (indices and .debs).
rx() { awk -F'[: ]+' 'NR > 2 && $2 !~ /^(lo|ifb)/ { s += $3 } END { print s }' /proc/net/dev; }

seconds() { local s=$(date +%s.%N); "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log"; exit 1; }; echo "$(date +%s.%N) - $s" | bc; }

rx0=$(rx)
cold=$(seconds bin/mantlet build --cache-dir "$work/cache" -o "$work/cold")
rx1=$(rx)
warm=$(seconds bin/mantlet build --cache-dir "$work/cache" -o "$work/warm")
rx2=$(rx)
raw="$work/warm/node.raw"
qcow="$work/warm/node.qcow2"
boot=$(seconds bin/mantlet qemu run "$qcow" --accel "${MANTLET_QEMU_ACCEL:-auto}" --wait-for 'mantlet: boot finished' --timeout 15m)

printf 'cold build (empty package cache)   %6.1f s\n' "$cold"
printf 'warm rebuild (cached packages)     %6.1f s\n' "$warm"
printf 'downloaded: cold / warm            %6d MiB / %d MiB (warm: package indices only)\n' $(( (rx1 - rx0) >> 20 )) $(( (rx2 - rx1) >> 20 ))
printf 'raw image (virtual / allocated)    %6d MiB / %d MiB\n' $(( $(stat -c %s "$raw") >> 20 )) $(( $(du -k "$raw" | cut -f1) >> 10 ))
printf 'qcow2 image                        %6d MiB\n' $(( $(stat -c %s "$qcow") >> 20 ))
printf 'UKI (kernel + initrd + cmdline)    %6d MiB\n' $(( $(stat -c %s "$work/warm/node.efi") >> 20 ))
printf 'QEMU start to boot finished (%s)   %6.1f s\n' "${MANTLET_QEMU_ACCEL:-auto}" "$boot"
