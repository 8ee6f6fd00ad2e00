#!/usr/bin/env bash
# Install Fashion-MNIST from Debian's package where apt exists; elsewhere kdcore downloads it at run time.
set -euo pipefail
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-get not found: Fashion-MNIST will be downloaded through torchvision on first use" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null 2>&1 || ! sudo -n true 2>/dev/null; then  # no root, no password-less sudo
    echo "cannot install dataset-fashion-mnist without root: Fashion-MNIST will be downloaded through" \
      "torchvision on first use (or: sudo apt-get install dataset-fashion-mnist)" >&2
    exit 0
  fi
  SUDO="sudo"
fi
if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null; }; then
  echo "apt-get could not install dataset-fashion-mnist: Fashion-MNIST will be downloaded through torchvision" \
    "on first use" >&2
  exit 0
fi
echo "installed dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)"
