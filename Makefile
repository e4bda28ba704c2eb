# omifs: mount your Omi data as read-only files.
# `make` builds ./omifs; `make check` runs every test; see README.md.

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/user
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
DESTDIR ?=
PYTHON  ?= /usr/bin/python3
VERSION := 0.1.0

PKGS    := fuse3 libcurl json-c sqlite3
# libcurl is not linked: curl_lib loads it when a command needs the network,
# so that the commands that do not (omifs search) start without it.
LINKED_PKGS := fuse3 json-c
# SQLite is linked into omifs, as its authors advise: a search, a process
# of a few milliseconds, then neither maps nor relocates it, and SQLite's
# calls to its own API skip the shared library's indirection (0.4 ms, 8%,
# off the median search of scripts/bench-search). SQLITE_LINK=shared
# links the system's libsqlite3.so instead, which takes its updates
# without a rebuild of omifs.
SQLITE_LINK ?= static
ifeq ($(SQLITE_LINK),shared)
SQLITE_LIBS := $(shell pkg-config --libs sqlite3)
else
SQLITE_LIBS := -Wl,-Bstatic $(shell pkg-config --libs sqlite3) -Wl,-Bdynamic
endif
CC      ?= cc
CFLAGS  ?= -O2 -g
# What the build needs whatever CFLAGS the user gives (check-asan gives some).
BUILD_CFLAGS := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -D_GNU_SOURCE -DFUSE_USE_VERSION=35 -DOMIFS_VERSION=\"$(VERSION)\" \
           $(shell pkg-config --cflags $(PKGS))
LIBS    := $(shell pkg-config --libs $(LINKED_PKGS)) $(SQLITE_LIBS) -lunistring -ldl -lpthread -lm

# Everything but main.c and fs.c is testable without FUSE or a network.
CORE    := buf hash log jsontext model render status collections budget cjk_tokenizer search_rank search_snippet search_query search_index \
           search_index_write search_index_query store_open store_items store_versions store_counts store_files \
           store_account store_search snapshot_reads \
           store store_listing store_changes search page curl_lib wire api api_exchange api_request api_list source \
           sync_base sync_listing sync transcripts sync_reads names vault snapshot snapshot_views snapshot_build kept feed \
           searchdir tree tree_snapshots tree_status tree_content tree_search tree_refresh config core mcp
CORE_OBJ := $(CORE:%=build/%.o)
OBJ     := $(CORE_OBJ) build/fs.o build/sync_command.o build/keys_command.o build/mount_command.o \
           build/search_command.o build/changes_command.o build/mcp_command.o build/mcp_tools.o build/cache_command.o build/cli.o build/cli_check.o build/cli_fuse.o build/cli_usage.o build/main.o
UNIT_TESTS := $(patsubst tests/unit/%.c,build/tests/%,$(wildcard tests/unit/test_*.c))

.PHONY: all check check-layers check-unit check-emulator check-integration check-asan check-fuzz \
        check-tsan check-valgrind \
        demo bench bench-heavy bench-search install uninstall clean

all: omifs

omifs: $(OBJ)
	$(CC) $(BUILD_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(LDLIBS)

build/%.o: src/%.c $(wildcard src/*.h) | build
	$(CC) $(BUILD_CFLAGS) $(CFLAGS) -c -o $@ $<

build/tests/%: tests/unit/%.c tests/unit/unit.h $(CORE_OBJ) | build
	$(CC) $(BUILD_CFLAGS) $(CFLAGS) $(LDFLAGS) -Isrc -o $@ $< $(CORE_OBJ) $(LIBS) $(LDLIBS)

build:
	mkdir -p build/tests

check: check-layers check-unit check-fuzz check-emulator check-integration

# Every #include in src/ against ARCHITECTURE.md's table, then the tests
# that prove the check fails when it should.
check-layers:
	$(PYTHON) scripts/check-layers
	$(PYTHON) -m pytest -q tests/layers

check-unit: $(UNIT_TESTS)
	@tests/unit/run $(UNIT_TESTS)

check-emulator:
	$(PYTHON) -m pytest -q tests/emulator

check-integration: omifs
	$(PYTHON) -m pytest -q tests/integration

# Every input that ever crashed a fuzz target, and the seed corpus, once.
check-fuzz: fuzz-regress

# Cycles of mount, refresh storm and unmount in test_unmount_stress: a few
# in make check, more under the sanitizers, which see what a crash hides.
STRESS_CYCLES ?= 12

# The whole suite, unit and mounted, under AddressSanitizer and UBSan.
check-asan:
	$(MAKE) clean
	OMIFS_STRESS_CYCLES=$(STRESS_CYCLES) LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	ASAN_OPTIONS=quarantine_size_mb=256 \
	$(MAKE) check CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	        LDFLAGS="-fsanitize=address,undefined"
	$(MAKE) clean

# Under ThreadSanitizer: readers probing a snapshot's index while the next
# is built on it (test_snapshot), then parallel readers during refreshes
# and unmounts during refreshes, mounted.
check-tsan:
	$(MAKE) clean
	$(MAKE) omifs build/tests/test_snapshot CFLAGS="-O1 -g -fsanitize=thread" LDFLAGS="-fsanitize=thread"
	TSAN_OPTIONS="halt_on_error=1" build/tests/test_snapshot; unit=$$?; \
	  TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1" OMIFS_STRESS_CYCLES=$(STRESS_CYCLES) \
	  $(PYTHON) -m pytest -q tests/integration/test_parallel.py tests/integration/test_unmount_stress.py; \
	  status=$$?; $(MAKE) clean; [ $$unit -eq 0 ] && exit $$status; exit $$unit

# The unit tests under valgrind's memcheck: no error, no leak.
check-valgrind: $(UNIT_TESTS)
	@for t in $(UNIT_TESTS); do \
	  valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
	    $$t >/dev/null || { echo "valgrind: $$t"; exit 1; }; \
	done; echo "valgrind: every unit test is clean"

# On a fresh machine: installs what is missing (as root), or says the one
# sudo command to run; then builds and tours a demo account.
demo:
	@scripts/install-deps
	@$(MAKE) --no-print-directory omifs
	scripts/demo

bench: omifs
	$(PYTHON) scripts/bench

# A heavy account: listings at the backend's hourly limits, 100,000
# conversations on the documented profile (scripts/bench-heavy).
bench-heavy: omifs
	$(PYTHON) scripts/bench-heavy

# Search on real text at 20,000 conversations, against grep -r
# (scripts/bench-search).
bench-search: omifs
	$(PYTHON) scripts/bench-search

install: omifs
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(UNITDIR) \
	        $(DESTDIR)$(BASHCOMPDIR)
	install -m 0755 omifs $(DESTDIR)$(BINDIR)/omifs
	install -m 0644 omifs.1 $(DESTDIR)$(MANDIR)/man1/omifs.1
	for unit in omifs.service omifs@.service; do \
	  sed 's|@BINDIR@|$(BINDIR)|g' scripts/$$unit.in > $(DESTDIR)$(UNITDIR)/$$unit && \
	  chmod 0644 $(DESTDIR)$(UNITDIR)/$$unit || exit 1; \
	done
	install -m 0644 scripts/omifs.bash-completion $(DESTDIR)$(BASHCOMPDIR)/omifs

# Removes what install put there, and the directories it made that are
# left empty (up to DESTDIR, never a directory that holds anything else).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/omifs $(DESTDIR)$(MANDIR)/man1/omifs.1 \
	      $(DESTDIR)$(UNITDIR)/omifs.service $(DESTDIR)$(UNITDIR)/omifs@.service \
	      $(DESTDIR)$(BASHCOMPDIR)/omifs
	for dir in $(BINDIR) $(MANDIR)/man1 $(UNITDIR) $(BASHCOMPDIR); do \
	  while [ -n "$$dir" ] && [ "$$dir" != / ] && \
	        rmdir "$(DESTDIR)$$dir" 2>/dev/null; do dir=$$(dirname "$$dir"); done; \
	done

clean:
	rm -rf build omifs

# fuzz-build, fuzz (FUZZ_SECONDS per target), fuzz-regress: see tests/fuzz/.
include tests/fuzz/fuzz.mk
