#!/bin/bash
# Prints mantlet's figures, all from one run on this machine so that their ratios hold on a
# shared, loaded one:
#   cold            empty cache: downloads, package layer, everything
#   warm            .deb files cached, the package layer built again (--no-cache): what every
#                   build cost before the layer cache
#   profile change  one of the profile's files changed: the cached layer, the configuration
#   no change       the same again: the outputs are there and verified
#   sequential      the profile change with every step one after the other (--sequential)
#   package change  one more package: a new package layer
# then image sizes and seconds from QEMU start to the end of the boot (the image's
# 'mantlet: boot finished' line). Figures, not pass/fail. Needs root and `make deps build`.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/mantlet-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

# Bytes received by every interface but loopback: what a build downloads (indices and .debs).
rx() { awk -F'[: ]+' 'NR > 2 && $2 !~ /^(lo|ifb)/ { s += $3 } END { print s }' /proc/net/dev; }

# seconds NAME CMD...: runs CMD, keeps its output in $work/NAME.log, prints the seconds it took.
seconds() {
	local name=$1 s
	shift
	s=$(date +%s.%N)
	"$@" >"$work/$name.log" 2>&1 || { cat "$work/$name.log" >&2; exit 1; }
	echo "$(date +%s.%N) - $s" | bc
}

# The image is the default one, with a profile of our own on top of base.yaml that a
# benchmark can change: one file, then one package more.
cp -r profiles "$work/profiles"
profile() { # profile FILE-CONTENT [PACKAGE]
	{
		echo "name: bench"
		echo "description: the base profile and one file the benchmark changes"
		echo "include: [base.yaml]"
		[ -z "${2:-}" ] || echo "packages: [$2]"
		echo "files:"
		echo "  - path: /etc/mantlet-bench"
		echo "    mode: \"0644\""
		echo "    content: \"$1\\n\""
	} >"$work/profiles/bench.yaml"
}
build() { bin/mantlet build --profile "$work/profiles/bench.yaml" --cache-dir "$work/cache" -o "$work/out" "$@"; }

profile one
rx0=$(rx)
cold=$(seconds cold build)
rx1=$(rx)
warm=$(seconds warm build --no-cache)
rx2=$(rx)
profile two
change=$(seconds change build)
same=$(seconds same build)
profile three
sequential=$(seconds sequential build --sequential)
profile three less
pkgs=$(seconds packages build)

raw="$work/out/node.raw"
qcow="$work/out/node.qcow2"
boot=$(seconds boot bin/mantlet qemu run "$qcow" --accel "${MANTLET_QEMU_ACCEL:-auto}" --wait-for 'mantlet: boot finished' --timeout 15m)

ratio() { echo "scale=2; $1 / $warm" | bc | sed 's/^\./0./'; }
printf 'cold build (empty cache)                 %6.1f s\n' "$cold"
printf 'warm build (.debs cached, layer built)   %6.1f s\n' "$warm"
printf 'profile change (layer cached)            %6.1f s   %s x warm (target <= 0.30)\n' "$change" "$(ratio "$change")"
printf 'no change (outputs verified)             %6.1f s   %s x warm (target <= 0.15)\n' "$same" "$(ratio "$same")"
printf 'profile change, steps one by one         %6.1f s   %s x warm (the same with --sequential)\n' "$sequential" "$(ratio "$sequential")"
printf 'package change (new layer)               %6.1f s   %s x warm (target: no slower than warm)\n' "$pkgs" "$(ratio "$pkgs")"
printf 'downloaded: cold / warm                  %6d MiB / %d MiB (warm: what changed in the package lists)\n' $(( (rx1 - rx0) >> 20 )) $(( (rx2 - rx1) >> 20 ))
printf 'raw image (virtual / allocated)          %6d MiB / %d MiB\n' $(( $(stat -c %s "$raw") >> 20 )) $(( $(du -k "$raw" | cut -f1) >> 10 ))
printf 'qcow2 image                              %6d MiB\n' $(( $(stat -c %s "$qcow") >> 20 ))
printf 'UKI (kernel + initrd + cmdline)          %6d MiB\n' $(( $(stat -c %s "$work/out/node.efi") >> 20 ))
printf 'QEMU start to boot finished (%s)         %6.1f s\n' "${MANTLET_QEMU_ACCEL:-auto}" "$boot"
for b in warm change same sequential; do
	echo "steps of the $b build:"
	grep -E '(done|cached|FAILED) ' "$work/$b.log" | sed 's/^/  /'
done
