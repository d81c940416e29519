# The two commands: `make run` and `make test`. Everything else is a building block.
BUILD_DIR  ?= build
ASAN_DIR   ?= build-asan
FUZZ_DIR   ?= build-fuzz
JOBS       ?= $(shell nproc)
DATA_DIR   ?= ./data
FUZZ_SECONDS ?= 20
CMAKE_FLAGS ?=

# Let ccache reuse objects across checkouts in different directories (a fresh clone in CI
# hits the cache a developer's build filled).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: all deps build run test unit-asan fuzz fuzz-smoke e2e-deps bench clean format

all: build

deps:
	@scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

# A data dir that already exists has no way to show its first key again: mint a new one.
run: build
	@if [ -f $(DATA_DIR)/control.db ]; then \
	  echo "make run: a new API key for tenant 'default' (earlier keys keep working):"; \
	  $(BUILD_DIR)/src/app/observex keys create --tenant default --data-dir $(DATA_DIR) | tail -1; \
	fi
	$(BUILD_DIR)/src/app/observex serve --data-dir $(DATA_DIR)

e2e-deps:
	@cd tests/e2e && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; fi

# Every test: unit + integration + end-to-end on the release build, then the unit tests
# again under ASan+UBSan, then a short libFuzzer run of every parser.
test: build e2e-deps
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 900
	$(MAKE) unit-asan
	$(MAKE) fuzz-smoke

unit-asan: deps
	cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DOBX_SANITIZE=ON -DOBX_BUILD_APP=OFF $(CMAKE_FLAGS)
	cmake --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS) -L unit --timeout 600

$(FUZZ_DIR)/build.ninja:
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOBX_FUZZ=ON $(CMAKE_FLAGS)

fuzz-smoke: deps $(FUZZ_DIR)/build.ninja
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzzers
	scripts/run-fuzzers.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

fuzz: deps $(FUZZ_DIR)/build.ninja
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzzers
	scripts/run-fuzzers.sh $(FUZZ_DIR) 600

bench: build
	bench/run.sh

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR)
