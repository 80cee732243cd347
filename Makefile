# gatehouse — the two commands of the Quick start, and a few more.
#   make demo   installs what is missing, builds, runs the demo
#   make test   installs what is missing, builds with ASan+UBSan, runs every test
SHELL := /bin/bash
JOBS ?= 2
BUILD_TEST := build/test
BUILD_RELEASE := build/release
BUILD_FUZZ := build/fuzz
CMAKE_COMMON := -G Ninja -DCMAKE_EXPORT_COMPILE_COMMANDS=ON

.PHONY: all deps build release test unit fuzz fuzz-long format check-format demo bench bench-micro clean

all: release

deps:
	@bash scripts/install-deps.sh

$(BUILD_TEST)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD_TEST) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=Debug -DGATEHOUSE_SANITIZE=ON

$(BUILD_RELEASE)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD_RELEASE) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGATEHOUSE_TESTS=OFF

build: deps $(BUILD_TEST)/build.ninja
	cmake --build $(BUILD_TEST) -j$(JOBS)

release: deps $(BUILD_RELEASE)/build.ninja
	cmake --build $(BUILD_RELEASE) -j$(JOBS) --target gatehouse

# Every test: formatting, the release binary `make demo` runs (its -O2 warnings are errors
# too), every fuzz target for a bounded time (GATEHOUSE_FUZZ_SECONDS each, two at a time),
# then unit and integration tests (ASan+UBSan).
test: deps check-format build release fuzz
	cd $(BUILD_FUZZ) && ctest --output-on-failure --timeout 300 -j$(JOBS)
	cd $(BUILD_TEST) && ctest --output-on-failure --timeout 900

fuzz: deps
	cmake -S . -B $(BUILD_FUZZ) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DGATEHOUSE_FUZZ_ONLY=ON
	cmake --build $(BUILD_FUZZ) -j$(JOBS)

# The long campaign: each fuzz target for FUZZ_SECONDS (default 10 minutes), ASan+UBSan; what
# it finds goes to build/fuzz-findings/ (scripts/fuzz-long.sh), never into the seeds.
FUZZ_SECONDS ?= 600
fuzz-long: fuzz
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/fuzz-long.sh

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

check-format: deps
	@files=$$(git ls-files '*.cc' '*.h'); \
	if ! clang-format --dry-run --Werror $$files 2>/tmp/gatehouse-format.log; then \
	  head -40 /tmp/gatehouse-format.log; echo "clang-format: run 'make format'"; exit 1; fi; \
	echo "clang-format: $$(echo $$files | wc -w) files ok"
	@# GCC 12 miscompiles co_await inside && and || (a finished coroutine is resumed).
	@if git grep -nE '(&&|\|\|)[[:space:]]*!?[[:space:]]*co_await' -- '*.cc' '*.h'; then \
	  echo "co_await inside && or ||: await first, then test the result"; exit 1; fi

demo: release
	$(BUILD_RELEASE)/src/app/gatehouse demo

bench: release
	bash bench/pg-compare

# Micro-benchmarks (Google Benchmark), release build: statement analysis cold and on a cache
# hit; the masking scanner on clean text and with 5 % sensitive values rewritten; audit
# search over a million recorded statements.
bench-micro: deps $(BUILD_RELEASE)/build.ninja
	cmake --build $(BUILD_RELEASE) -j$(JOBS) --target bench_sql_analysis bench_masking bench_audit_search bench_audit_write
	$(BUILD_RELEASE)/bench/micro/bench_sql_analysis
	$(BUILD_RELEASE)/bench/micro/bench_masking
	$(BUILD_RELEASE)/bench/micro/bench_audit_search
	$(BUILD_RELEASE)/bench/micro/bench_audit_write

clean:
	rm -rf build
