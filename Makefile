# stancebot — the two commands a new user runs are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint format clean moderation-model

install: $(STAMP)

# Re-installs only when pyproject.toml changes; a second `make install` is a no-op.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch is pinned to the CPU build first so nothing can pull CUDA packages.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev,train]"
	# The ONNX export of the encoder, so that the bot starts without torch (docs/operators.md, Command line).
	$(BIN)/stancebot export-model || echo "stancebot export-model failed: the first run exports instead"
	touch $(STAMP)

demo: install
	$(BIN)/stancebot demo --out demo-out

test: install
	$(BIN)/ruff check bot tests benchmarks
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check bot tests benchmarks
	$(BIN)/ruff format --check bot tests benchmarks

format: install
	$(BIN)/ruff format bot tests benchmarks
	$(BIN)/ruff check --fix bot tests benchmarks

clean:
	rm -rf $(VENV) demo-out .pytest_cache

# The abuse model from the seeds, the public datasets and real chat (docs/model-card.md,
# Moderation data). The fetched files live in public-data/, which git ignores.
MODERATION_DATA ?= public-data/moderation
CHAT_POOL ?= public-data/chat/train_pool.jsonl
# Both chat styles' heads: the standard one, then the casual one (--hide-second-person) in the
# casual/ folder beside it: the shipped folder, or MODERATION_OUT if set (e.g. the folder
# STANCEBOT_MODERATION_HEADS_DIR names). MODERATION_FLAGS: other train-moderation options, given
# to both (docs/model-card.md, Rebuilding the abuse model).
MODERATION_OUT ?=
MODERATION_FLAGS ?=
TRAIN_MODERATION = $(BIN)/stancebot train-moderation --extra $(MODERATION_DATA)/public_train.jsonl --chat $(CHAT_POOL) $(MODERATION_FLAGS)
moderation-model: install
	$(BIN)/stancebot moderation-data $(MODERATION_DATA)/raw $(MODERATION_DATA)
	$(TRAIN_MODERATION) $(if $(MODERATION_OUT),--out $(MODERATION_OUT))
	$(TRAIN_MODERATION) --hide-second-person $(if $(MODERATION_OUT),--out $(MODERATION_OUT)/casual)
