# tests/fuzz/fuzz.mk: libFuzzer targets (clang, ASan, UBSan, LeakSanitizer).
#
# Included from the top-level Makefile (`include tests/fuzz/fuzz.mk`,
# anywhere: it leaves the default goal alone), or used directly with
#     make -f Makefile -f tests/fuzz/fuzz.mk fuzz-build
#
#   make fuzz-build     build/fuzz/<target> for every target
#   make fuzz           fuzz each target for FUZZ_SECONDS (default 20) on a
#                       copy of its corpus in build/fuzz/corpus/<target>;
#                       fails if any target crashes, leaks or breaks an
#                       invariant (inputs in build/fuzz/artifacts/<target>/).
#                       `make -j2 fuzz` runs two targets at once.
#   make fuzz-regress   runs each target once over tests/fuzz/corpus/<target>
#                       and tests/fuzz/regressions/<target>, no fuzzing: the
#                       cheap check for CI
#   make fuzz-merge     adds to tests/fuzz/corpus/<target> the inputs of the
#                       build/fuzz copy that bring new coverage (opt-in: the
#                       only rule that writes into the repository)
#   make fuzz-clean
#
# Knobs: FUZZ_SECONDS, FUZZ_TARGETS (a subset), FUZZ_FLAGS (extra libFuzzer
# flags, e.g. FUZZ_FLAGS=-jobs=2), FUZZ_CC.

FUZZ_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

FUZZ_CC       ?= clang
FUZZ_SECONDS  ?= 20
FUZZ_TARGETS  ?= fuzz_model_render fuzz_error_body fuzz_names fuzz_headers fuzz_split fuzz_search fuzz_mcp
FUZZ_FLAGS    ?=
FUZZ_HERE     := tests/fuzz
FUZZ_DIR      := build/fuzz
FUZZ_PKGS     := fuse3 libcurl json-c sqlite3
FUZZ_DEFS     := -std=c11 -D_GNU_SOURCE -DFUSE_USE_VERSION=35 -DOMIFS_VERSION=\"fuzz\"
FUZZ_CFLAGS   := -g -O1 -fno-omit-frame-pointer -Wall -Wextra $(FUZZ_DEFS) -Isrc \
                 $(shell pkg-config --cflags $(FUZZ_PKGS))
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_LIBS     := $(shell pkg-config --libs $(FUZZ_PKGS)) -lunistring -lpthread -lm
# The layers testable without FUSE: the top-level Makefile's CORE when it
# is defined (include this file after it), else every src/*.c but the FUSE
# glue and main().
FUZZ_CORE_SRC := $(if $(CORE),$(CORE:%=src/%.c),$(filter-out src/main.c src/fs.c,$(wildcard src/*.c)))
FUZZ_CORE_OBJ := $(FUZZ_CORE_SRC:src/%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_BINS     := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%)

# Largest input per target: a few transcript segments' worth of JSON; an
# error body longer than what the message shows; ids past the 255-byte
# limit; a header line and a URL; a text and a query.
FUZZ_MAX_LEN_fuzz_model_render := 16384
FUZZ_MAX_LEN_fuzz_error_body   := 4096
FUZZ_MAX_LEN_fuzz_names        := 1024
FUZZ_MAX_LEN_fuzz_headers      := 512
FUZZ_MAX_LEN_fuzz_split        := 16384
FUZZ_MAX_LEN_fuzz_search       := 2048
FUZZ_MAX_LEN_fuzz_mcp          := 4096
FUZZ_DICT_fuzz_model_render := $(FUZZ_HERE)/json.dict
FUZZ_DICT_fuzz_error_body   := $(FUZZ_HERE)/json.dict
FUZZ_DICT_fuzz_names        := $(FUZZ_HERE)/names.dict
FUZZ_DICT_fuzz_split        := $(FUZZ_HERE)/json.dict
FUZZ_DICT_fuzz_search       := $(FUZZ_HERE)/search.dict
FUZZ_DICT_fuzz_mcp          := $(FUZZ_HERE)/json.dict
FUZZ_TIMEOUT  := 25
FUZZ_RSS_MB   := 2048
FUZZ_ENV      := ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
                 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

FUZZ_RUN_RULES     := $(FUZZ_TARGETS:%=fuzz-run-%)
FUZZ_REGRESS_RULES := $(FUZZ_TARGETS:%=fuzz-regress-%)
FUZZ_MERGE_RULES   := $(FUZZ_TARGETS:%=fuzz-merge-%)

.PHONY: fuzz-build fuzz fuzz-regress fuzz-merge fuzz-clean \
        $(FUZZ_RUN_RULES) $(FUZZ_REGRESS_RULES) $(FUZZ_MERGE_RULES)

fuzz-build: $(FUZZ_BINS)

$(FUZZ_DIR)/obj/%.o: src/%.c $(wildcard src/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<

# Each target links only the modules it needs (those that exist), so that
# work in progress elsewhere in src/ does not break it; tree.c needs the rest.
FUZZ_MODS_fuzz_model_render := buf hash jsontext model render names vault
FUZZ_MODS_fuzz_error_body   := buf hash log jsontext model render names vault collections budget curl_lib wire page api
FUZZ_MODS_fuzz_names        := $(FUZZ_CORE_SRC:src/%.c=%)
FUZZ_MODS_fuzz_headers      := buf hash log jsontext model render names vault collections budget curl_lib wire page api
FUZZ_MODS_fuzz_split        := buf jsontext
FUZZ_MODS_fuzz_search       := $(FUZZ_CORE_SRC:src/%.c=%)
FUZZ_MODS_fuzz_mcp          := buf jsontext mcp
fuzz_objs = $(filter $(FUZZ_CORE_OBJ),$(patsubst %,$(FUZZ_DIR)/obj/%.o,$(FUZZ_MODS_$(1))))

define FUZZ_LINK_RULE
$(FUZZ_DIR)/$(1): $(FUZZ_HERE)/$(1).c $(FUZZ_HERE)/fuzz.h $(call fuzz_objs,$(1)) $(wildcard src/*.h)
	@mkdir -p $$(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -o $$@ $$< $(call fuzz_objs,$(1)) $(FUZZ_LIBS)
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_LINK_RULE,$(t))))

# One target's campaign. A failure is recorded, not fatal, so that the
# other targets still run; `fuzz` fails at the end if any was recorded.
$(FUZZ_RUN_RULES): fuzz-run-%: $(FUZZ_DIR)/%
	@mkdir -p $(FUZZ_DIR)/corpus/$* $(FUZZ_DIR)/artifacts/$*
	@rm -f $(FUZZ_DIR)/$*.failed
	@if [ -d $(FUZZ_HERE)/corpus/$* ]; then cp $(FUZZ_HERE)/corpus/$*/* $(FUZZ_DIR)/corpus/$*/; fi
	@echo "fuzz: $* for $(FUZZ_SECONDS) s (log in $(FUZZ_DIR)/$*.log)"
	@$(FUZZ_ENV) $< -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN_$*) \
	    $(if $(FUZZ_DICT_$*),-dict=$(FUZZ_DICT_$*)) \
	    -timeout=$(FUZZ_TIMEOUT) -rss_limit_mb=$(FUZZ_RSS_MB) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/artifacts/$*/ $(FUZZ_FLAGS) $(FUZZ_DIR)/corpus/$* \
	    >$(FUZZ_DIR)/$*.log 2>&1 \
	  || { touch $(FUZZ_DIR)/$*.failed; echo "fuzz: $* FAILED:"; \
	       grep -E 'runtime error|ERROR|SUMMARY|FUZZ INVARIANT|Test unit written' \
	           $(FUZZ_DIR)/$*.log | head -n 20; }
	@grep -E '(DONE|INITED) +cov|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
	    $(FUZZ_DIR)/$*.log | sed 's/^/fuzz: $*: /' || true

fuzz: $(FUZZ_RUN_RULES)
	@failed=""; for t in $(FUZZ_TARGETS); do \
	    [ ! -e $(FUZZ_DIR)/$$t.failed ] || failed="$$failed $$t"; done; \
	 if [ -n "$$failed" ]; then \
	    echo "fuzz: FAILED:$$failed (inputs in $(FUZZ_DIR)/artifacts/<target>/)"; exit 1; fi; \
	 echo "fuzz: no crash, leak or broken invariant in $(FUZZ_TARGETS)"

# Each saved input run once, no fuzzing. Passing files (never a directory,
# which libFuzzer would take as a corpus to fuzz) runs exactly those.
$(FUZZ_REGRESS_RULES): fuzz-regress-%: $(FUZZ_DIR)/%
	@mkdir -p $(FUZZ_DIR)/artifacts/$*
	@rm -f $(FUZZ_DIR)/$*.regress-failed
	@files="$(wildcard $(FUZZ_HERE)/corpus/$*/* $(FUZZ_HERE)/regressions/$*/*)"; \
	 if [ -z "$$files" ]; then echo "fuzz-regress: $*: no inputs"; exit 0; fi; \
	 n=$$(echo $$files | wc -w); \
	 if $(FUZZ_ENV) $< -timeout=$(FUZZ_TIMEOUT) -rss_limit_mb=$(FUZZ_RSS_MB) \
	        -artifact_prefix=$(FUZZ_DIR)/artifacts/$*/ $$files >$(FUZZ_DIR)/$*.regress.log 2>&1; then \
	    echo "fuzz-regress: $*: $$n inputs ok"; \
	 else \
	    touch $(FUZZ_DIR)/$*.regress-failed; \
	    echo "fuzz-regress: $*: FAILED (log in $(FUZZ_DIR)/$*.regress.log):"; \
	    grep -E 'runtime error|ERROR|SUMMARY|FUZZ INVARIANT' $(FUZZ_DIR)/$*.regress.log | head -n 6; \
	    for f in $$files; do \
	        $(FUZZ_ENV) $< -timeout=$(FUZZ_TIMEOUT) $$f >/dev/null 2>&1 || echo "  fails: $$f"; \
	    done; \
	 fi

fuzz-regress: $(FUZZ_REGRESS_RULES)
	@failed=""; for t in $(FUZZ_TARGETS); do \
	    [ ! -e $(FUZZ_DIR)/$$t.regress-failed ] || failed="$$failed $$t"; done; \
	 if [ -n "$$failed" ]; then echo "fuzz-regress: FAILED:$$failed"; exit 1; fi

$(FUZZ_MERGE_RULES): fuzz-merge-%: $(FUZZ_DIR)/%
	@mkdir -p $(FUZZ_HERE)/corpus/$* $(FUZZ_DIR)/corpus/$*
	$(FUZZ_ENV) $< -merge=1 -max_len=$(FUZZ_MAX_LEN_$*) -timeout=$(FUZZ_TIMEOUT) \
	    $(FUZZ_HERE)/corpus/$* $(FUZZ_DIR)/corpus/$*

fuzz-merge: $(FUZZ_MERGE_RULES)

fuzz-clean:
	rm -rf $(FUZZ_DIR)

# Leave the including Makefile's default goal as it was.
.DEFAULT_GOAL := $(FUZZ_SAVED_DEFAULT_GOAL)
