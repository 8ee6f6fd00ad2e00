# The two commands of the README:  `make book` builds the book, `make test` runs the test suite.
# Both create .venv, install the pinned requirements, kdcore (editable) and the data first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test lint data browser vendor install html read lab clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

install: $(STAMP)

data:
	bash scripts/install_data.sh

# Debian's chromium, for tests/test_html.py (the built book in a real headless browser).
browser:
	bash scripts/install_browser.sh

# MathJax and the ipywidgets JavaScript from npm (pinned versions, sha512-checked) into _vendor/, so the HTML
# works offline; a no-op once fetched.
vendor:
	bash scripts/vendor_js.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Unit tests, the paper-profile CIFAR path on synthetic data, and nbval over every chapter at the smoke
# profile (KDCORE_PROFILE reaches the kernels through the environment). A kernel may take 300 s to start, the
# value of kdcore.batch.KERNEL_START_TIMEOUT (a busy 2-core machine once took over nbclient's default 60 s).
test: $(STAMP) data browser vendor lint
	KDCORE_PROFILE=smoke KDCORE_THREADS=1 KDCORE_WIDGETS=0 $(BIN)/pytest -n 2 --dist loadfile --nbval-lax --nbval-current-env \
		--nbval-cell-timeout=300 --nbval-kernel-startup-timeout=300 tests book

# Execute every chapter at the book profile (committed outputs), then render the HTML into _build/html.
book: $(STAMP) data
	$(BIN)/python scripts/execute_chapters.py
	$(MAKE) html

html: $(STAMP) vendor
	$(BIN)/jupyter-book build . --all -W -n --keep-going

# Just to read the book: the committed outputs rendered with Jupyter Book alone, in a venv of its own (about
# 270 MB, no torch; pinned by requirements.txt as constraints), into _build/html as `make html` renders them.
READ_VENV := .venv-read
$(READ_VENV)/.installed: requirements.txt pyproject.toml
	test -x $(READ_VENV)/bin/python || $(PYTHON) -m venv $(READ_VENV)
	$(READ_VENV)/bin/pip install -q -c requirements.txt jupyter-book
	$(READ_VENV)/bin/pip install -q --no-deps -e .
	touch $@

read: $(READ_VENV)/.installed vendor
	$(READ_VENV)/bin/jupyter-book build . --all -W -n --keep-going

# Open the chapters in JupyterLab. It is installed into the venv on first use only: neither the tests nor the
# book need it, and it is the one unpinned package (an editor, not something results depend on).
lab: $(STAMP) data
	test -x $(BIN)/jupyter-lab || $(BIN)/pip install -q jupyterlab
	$(BIN)/jupyter lab book/

clean:
	rm -rf _build
