#!/usr/bin/env sh
# Installs the two OpenCL devices hal's suite runs on (Debian/Ubuntu, as root or with
# sudo): PoCL, a real OpenCL 3.0 implementation on the CPU, and Oclgrind, an OpenCL 1.2
# simulator that reports out-of-bounds accesses and data races, registered as an ICD.
set -eu
SUDO=$( [ "$(id -u)" = 0 ] && echo "" || echo sudo )
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq pocl-opencl-icd oclgrind > /dev/null
$SUDO mkdir -p /etc/OpenCL/vendors
dpkg -L oclgrind | grep 'liboclgrind-rt-icd.so$' | $SUDO tee /etc/OpenCL/vendors/oclgrind.icd > /dev/null
# PyPI's PoCL build (pyopencl[pocl]) is compiled with LLVM 14, which cannot target some
# newer CPUs ("unknown target CPU 'generic'"); Debian's PoCL is used instead.
pip uninstall -y -q pocl-binary-distribution 2>/dev/null || true
