#!/usr/bin/env bash
# Prepare what the GPU machine needs for scripts/gpu_check.py, on this machine (the GPU machine has no network):
#   .whl/          IPython and its dependencies as wheels for the device's Python 3.12 (chapters import
#                  IPython.display; torch, scipy, matplotlib, tqdm, pyyaml and pytest are in the device image)
#   .device-data/  the Fashion-MNIST IDX files from Debian's dataset-fashion-mnist (the gpu profile's data)
# Both are git-ignored through .git/info/exclude and travel with the device tool's `carry`. Then, on the device:
#   python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl &&
#   PYTHONPATH=/tmp/site:$PWD python3 scripts/gpu_check.py --out $OUT --data-dir .device-data
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
grep -qx '/.device-data/' .git/info/exclude 2>/dev/null || echo '/.device-data/' >> .git/info/exclude
rm -rf .whl && mkdir -p .whl .device-data
PYTHON=${PYTHON:-python3}
# pinned: the versions in this book's tested venv, for CPython 3.12 on x86-64
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  ipython==9.18.1 ipython-pygments-lexers==1.1.1 traitlets==5.16.1 decorator==5.2.1 jedi==0.20.1 parso==0.8.7 \
  matplotlib-inline==0.2.2 pexpect==4.9.0 ptyprocess==0.7.0 prompt-toolkit==3.0.53 wcwidth==0.9.4 \
  stack-data==0.6.3 executing==2.3.0 asttokens==3.0.2 pure-eval==0.2.4
cp /usr/share/datasets/fashion-mnist/*-ubyte* .device-data/
du -sh .whl .device-data
