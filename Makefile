# Everything works on a fresh machine with only Python >= 3.11 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTO_DIR := protos/tocsin/v1
PROTOS := $(wildcard $(PROTO_DIR)/*.proto)

.PHONY: install proto check-proto run test lint typecheck layering pytest bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Tocsin needs Python >= 3.11 (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Generated code sits next to the .proto files and is committed.
proto: $(STAMP)
	rm -f $(PROTO_DIR)/*_pb2.py $(PROTO_DIR)/*_pb2.pyi $(PROTO_DIR)/*_pb2_grpc.py $(PROTO_DIR)/*_pb2_grpc.pyi
	$(BIN)/python -m grpc_tools.protoc -I . \
		--plugin=protoc-gen-mypy=$(BIN)/protoc-gen-mypy \
		--plugin=protoc-gen-mypy_grpc=$(BIN)/protoc-gen-mypy_grpc \
		--python_out=. --grpc_python_out=. --mypy_out=quiet:. --mypy_grpc_out=quiet:. \
		$(PROTOS)

# Regenerates, then fails if that changed, added or removed anything git knows of.
check-proto: proto
	@stale=$$(git status --porcelain -- $(PROTO_DIR)) || exit 1; \
	if [ -n "$$stale" ]; then \
		echo "$$stale"; \
		echo "Generated protobuf code is stale: run 'make proto' and commit the result."; \
		exit 1; \
	fi

run: $(STAMP)
	$(BIN)/tocsin serve --config demo/tocsin.yaml

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The import contracts in pyproject.toml: the README's map of packages, held by CI.
layering: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck layering pytest

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .grimp_cache .import_linter_cache
