#!/bin/sh
# Installs what taskfarm needs to build and test on Debian 12 (bookworm), as root.
# Does nothing when everything is already there.
set -eu
pkgs="gcc libc6-dev make cmake pkg-config openmpi-bin libopenmpi-dev libhdf5-openmpi-dev
      hdf5-tools check python3-h5py python3-pandas valgrind procps
      slurmctld slurmd slurm-client munge iproute2 r-cran-hdf5r
      chromium python3-pil"
# A minimal Debian (a container, a debootstrap chroot) may have no /etc/hosts, and then not
# even "localhost" resolves: Slurm's and PMIx's name lookups stall on it (tests/slurm).
if ! getent hosts localhost >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "install-deps: adding localhost to /etc/hosts"
    echo "127.0.0.1 localhost" >>/etc/hosts
fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "install-deps: needs root to install:$missing" >&2
    exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
