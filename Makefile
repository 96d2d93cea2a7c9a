# Two commands set everything up on a fresh machine:
#   make run     runs the first lesson not yet finished (LESSON=06 runs lesson 06)
#   make test    runs the linter and the test suite
# Both create .venv on first use. The CUDA build of JAX is installed when
# nvidia-smi lists a GPU; JAX_EXTRA=cpu|cuda12 overrides that choice.
# Recipes are silent (@) and the installer writes to stderr, so that
# `make run ARGS=--json` prints exactly one JSON object on stdout.
#
# The notes' figures and the numbers they quote from runs:
#   make figures      runs the lessons the notes draw on, saves notes/results/*.json
#                     and draws notes/figures/*.png (ARGS=--from-results: redraw only)
#   make notes-check  re-runs each lesson a note quotes and checks every quoted number

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
LESSON ?=
JAX_EXTRA ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo cuda12 || echo cpu)
comma := ,
EXTRAS := test,bench$(if $(filter cuda12,$(JAX_EXTRA)),$(comma)cuda12,)
# Without a GPU the CPU backend is forced, so JAX does not probe for one.
PLATFORM_ENV := $(if $(filter cpu,$(JAX_EXTRA)),JAX_PLATFORMS=cpu,)

STAMP := $(VENV)/.installed-$(JAX_EXTRA)

.PHONY: run map test lint lessons bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@echo "First run: installing JAX ($(JAX_EXTRA)) and the project into $(VENV)" \
		"(about 1 GB; a few minutes, once)..." >&2
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) >&2
	@$(PY) -m pip install --quiet --upgrade pip >&2
	@$(PY) -m pip install --quiet -e ".[$(EXTRAS)]" >&2
	@rm -f $(VENV)/.installed-*
	@touch $@

# LESSON may be a number prefix (06), a stem or empty (the first lesson not yet finished).
run: $(STAMP)
	@stem=$$($(PY) -m trinity_foundations.catalogue --find "$(LESSON)") && \
		$(PLATFORM_ENV) $(PY) lessons/$$stem.py $(ARGS)

# The course at a glance: chapters, lessons, and which are done.
map: $(STAMP)
	@$(PY) -m trinity_foundations

lint: $(STAMP)
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

# Two workers (pytest-xdist), each file's tests kept in one worker so that its
# fixtures and compiled programs are shared: the suite is mostly compiling.
PYTEST_ARGS ?= -n 2 --dist loadfile
test: lint
	@$(PLATFORM_ENV) $(PY) -m pytest $(PYTEST_ARGS)

# The order comes from the one catalogue, src/trinity_foundations/catalogue.py.
lessons: $(STAMP)
	@set -e; for l in $$($(PY) -m trinity_foundations.catalogue); do \
		if [ -f lessons/$$l.py ]; then $(PLATFORM_ENV) $(PY) lessons/$$l.py; \
		else echo "(lessons/$$l.py does not exist yet)"; fi; \
	done

# The learner's exercises in practice/, checked against the package's kernels:
#   make practice   |   make practice LESSON=06   |   make practice LESSON=06 EXERCISE=softmax
#   make practice ARGS="--hint softmax"   (a nudge, then a skeleton; --solution: the reference)
.PHONY: practice
practice: $(STAMP)
	@$(PLATFORM_ENV) $(PY) -m trinity_foundations.practice $(LESSON) $(EXERCISE) $(ARGS)

# The notes' pictures, and the results they and the notes' quoted numbers come from.
.PHONY: figures notes-check
figures: $(STAMP)
	@$(PLATFORM_ENV) $(PY) -m trinity_foundations.figures $(ARGS)

# Every number a note quotes from a run, checked against a fresh run at the defaults.
notes-check: $(STAMP)
	@$(PLATFORM_ENV) $(PY) -m trinity_foundations.notes_check $(ARGS)

bench: $(STAMP)
	@$(PLATFORM_ENV) $(PY) benchmarks/run.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .cache

# The declared floors, tested: the same suite in its own venv, every direct
# dependency pinned to its lowest allowed version by constraints-oldest.txt.
OLDEST_VENV ?= .venv-oldest
OLDEST_PY := $(OLDEST_VENV)/bin/python
OLDEST_STAMP := $(OLDEST_VENV)/.installed-oldest

$(OLDEST_STAMP): pyproject.toml constraints-oldest.txt
	@test -x $(OLDEST_PY) || $(PYTHON) -m venv $(OLDEST_VENV) >&2
	@$(OLDEST_PY) -m pip install --quiet --upgrade pip >&2
	@$(OLDEST_PY) -m pip install --quiet -c constraints-oldest.txt -e ".[test,bench]" >&2
	@touch $@

.PHONY: test-oldest
test-oldest: $(OLDEST_STAMP)
	@JAX_PLATFORMS=cpu $(OLDEST_PY) -m pytest $(PYTEST_ARGS)

# A longer training of lesson 19 (a few minutes on the CPU), keeping the
# parameters with the best validation loss where lesson 20 looks for them.
TRAIN_ARGS ?= --d-model 128 --layers 4 --heads 4 --context 64 --batch 32 --steps 1000 --lr 0.003 --warmup 50 --evals 20
CHECKPOINT ?= checkpoints/gpt_macbeth.npz

.PHONY: train
train: $(STAMP)
	@$(PLATFORM_ENV) $(PY) lessons/19_language_model.py $(TRAIN_ARGS) --save $(CHECKPOINT) $(ARGS)
