#!/usr/bin/env bash
# Prepare what the GPU machine needs for scripts/gpu_check.py, on this machine (the GPU machine has no network):
#   .whl/          wheels for the device's Python (3.12) of what its image lacks: IPython (the chapters import
#                  IPython.display) and the Jupyter stack papermill executes chapters with (step gpu_book);
#                  torch, scipy, matplotlib, tqdm, pyyaml, requests, click and pytest are in the device image
#   .device-data/  the Fashion-MNIST IDX files from Debian's dataset-fashion-mnist (the gpu profile's data)
# Both are git-ignored through .git/info/exclude and travel with the device tool's `carry`. Then, on the device:
#   python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl &&
#   PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH python3 scripts/gpu_check.py --out $OUT --data-dir .device-data
# PYTHON_VERSION=3.11 WHEELS=DIR bash scripts/prepare_device.sh fetches the same set for this machine's Python
# (tests/test_gpu_check.py rehearses the device run with it).
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=${WHEELS:-.whl}
PYTHON_VERSION=${PYTHON_VERSION:-3.12}
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
grep -qx '/.device-data/' .git/info/exclude 2>/dev/null || echo '/.device-data/' >> .git/info/exclude
rm -rf "$WHEELS" && mkdir -p "$WHEELS" .device-data
PYTHON=${PYTHON:-python3}
# pinned: the versions in this book's tested venv (requirements.txt), for CPython on x86-64
IPYTHON="ipython==9.18.1 ipython-pygments-lexers==1.1.1 traitlets==5.16.1 decorator==5.2.1 jedi==0.20.1 parso==0.8.7
  matplotlib-inline==0.2.2 pexpect==4.9.0 ptyprocess==0.7.0 prompt-toolkit==3.0.53 wcwidth==0.9.4 stack-data==0.6.3
  executing==2.3.0 asttokens==3.0.2 pure-eval==0.2.4"
JUPYTER="papermill==2.7.0 entrypoints==0.4.2 tenacity==9.2.1 nbclient==0.11.0 nbformat==5.11.1 fastjsonschema==2.22.3
  jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1 jupyter-client==8.10.0
  jupyter-core==5.9.1 platformdirs==4.14.8 pyzmq==27.3.0 tornado==6.6.1 ipykernel==7.4.0 comm==0.2.3
  debugpy==1.8.22 nest-asyncio2==1.7.4 myst-nb==1.4.0 docutils==0.21.2"
# shellcheck disable=SC2086
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYTHON_VERSION" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 -d "$WHEELS" \
  $IPYTHON $JUPYTER
cp /usr/share/datasets/fashion-mnist/*-ubyte* .device-data/
du -sh "$WHEELS" .device-data
