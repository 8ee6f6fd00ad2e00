#!/usr/bin/env bash
# Install Debian's chromium for tests/test_html.py, which opens the built book in a real headless browser.
# Works on a fresh Debian/Ubuntu machine as root (or with sudo); elsewhere, install Chromium yourself.
set -euo pipefail
for browser in chromium chromium-browser google-chrome; do
  if command -v "$browser" >/dev/null 2>&1; then exit 0; fi
done
if ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-get not found: install Chromium (chromium, chromium-browser or google-chrome) for tests/test_html.py" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "installed chromium ($(command -v chromium))"
