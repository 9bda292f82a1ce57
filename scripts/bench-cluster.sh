#!/bin/bash
# Prints the QEMU cluster harness's figures: seconds from QEMU start to 'mantlet: boot
# finished' on every node, for one node alone and for three nodes booting at the same time, in
# one run, with the peak memory of each node's QEMU and of the harness. Figures, not
# pass/fail. Needs `make deps build` and an image (IMAGE, default out/node.qcow2; built when
# missing, which needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
image=${IMAGE:-out/node.qcow2}
accel=${MANTLET_QEMU_ACCEL:-auto}
work=$(mktemp -d /tmp/mantlet-bench-cluster-XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ ! -f "$image" ]; then
	bin/mantlet build -o "$(dirname "$image")" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
fi
image=$(readlink -f "$image")

export MANTLET_PASSPHRASE=bench-only-passphrase
store="$work/store"
bin/mantlet creds init --dir "$store" --name bench --datacenter dc1 >/dev/null
nodes="ctl-1:control:10.88.0.11 wrk-1:worker:10.88.0.12 wrk-2:worker:10.88.0.13"
for n in $nodes; do
	IFS=: read -r name role ip <<<"$n"
	bin/mantlet creds issue --dir "$store" --node "$name" --role "$role" --ip "$ip" >/dev/null
done
for n in $nodes; do
	IFS=: read -r name _ _ <<<"$n"
	bin/mantlet ignition --dir "$store" --node "$name" -o "$work/$name.ign" \
		--network static --cidr 10.88.0.0/24 --interface enp0s4 >/dev/null
done
cluster() { # file name nodes...
	local f=$1 name=$2
	shift 2
	printf 'name: %s\nnetwork: {cidr: 10.88.0.0/24}\ndefaults: {image: %s}\nnodes:\n' "$name" "$image" >"$f"
	for n in "$@"; do printf '  - {name: %s, ignition: %s.ign}\n' "$n" "$n" >>"$f"; done
}
cluster "$work/one.yaml" one ctl-1
cluster "$work/three.yaml" three ctl-1 wrk-1 wrk-2

run() { # name
	bin/mantlet qemu cluster "$work/$1.yaml" --accel "$accel" --log-dir "$work/$1" \
		--wait-for 'mantlet: boot finished' --timeout 30m >"$work/$1.log" 2>&1 || { cat "$work/$1.log"; exit 1; }
	sed -n -e "s/^mantlet: node \(\S*\) showed \"[^\"]*\" \([0-9.]*\) s after QEMU started; QEMU peak RSS \(.*\)$/$1: node \1: boot finished \2 s, QEMU peak RSS \3/p" \
		-e "s/^mantlet: harness peak RSS \(.*\)$/$1: harness peak RSS \1/p" "$work/$1.log"
}
echo "cluster harness ($accel, $(nproc) cores; nodes of 1536 MiB, 1 vCPU, TCG cache 256 MiB)"
run one
run three
