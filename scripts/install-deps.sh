#!/bin/sh
# Installs everything mantlet's build and tests need on Debian 12 (run as root): the image
# tools from Debian's archive, then the Go modules of go.mod. Safe to run again. (sudo is
# for its visudo: tests check that the build's sudoers check rejects a broken file.)
set -eu

packages="
mmdebstrap
debian-archive-keyring
ca-certificates
squashfs-tools-ng
cryptsetup-bin
binutils
systemd-boot-efi
qemu-system-x86
qemu-utils
ovmf
uidmap
zstd
cpio
e2fsprogs
fdisk
bc
gcc
libblkid-dev
openssl
nginx-light
zookeeper
openscap-scanner
openscap-utils
squashfs-tools
ssh-audit
docker.io
nftables
vde-switch
openssh-client
sudo
bmap-tools
"

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: run as root (apt-get install)" >&2
	exit 1
fi
missing=
for p in $packages; do
	dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "install-deps: installing$missing"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
	# nginx, ZooKeeper and Docker are for tests, which start their own on 127.0.0.1 (dockerd with
	# its own socket, data and exec directories): no system service, and no socket that would
	# start one.
	for svc in nginx zookeeper docker.socket docker containerd; do
		systemctl disable --now "$svc" >/dev/null 2>&1 || true
	done
fi

if ! command -v go >/dev/null 2>&1; then
	if [ -x /usr/local/go/bin/go ]; then
		PATH="$PATH:/usr/local/go/bin"
	else
		echo "install-deps: Go is not installed (need Go 1.26 or newer at /usr/local/go or in PATH)" >&2
		exit 1
	fi
fi
cd "$(dirname "$0")/.."
go mod download
echo "install-deps: ready"
