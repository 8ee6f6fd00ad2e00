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
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null
echo "installed dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)"
