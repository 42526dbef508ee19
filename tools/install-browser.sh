#!/usr/bin/env sh
# Installs the browser tests/test_serve.py drives for the chat page of `python -m hal serve`
# (Debian/Ubuntu, as root or with sudo): Debian's chromium and its chromedriver, so that
# selenium finds both on the PATH and nothing is downloaded when the tests run.
set -eu
SUDO=$( [ "$(id -u)" = 0 ] && echo "" || echo sudo )
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium chromium-driver > /dev/null
