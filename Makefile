# SPDX-License-Identifier: GPL-3.0-or-later
#
# visp: make, make check, make bench, make install (PREFIX, DESTDIR), make clean.
# Quiet unless V=1. SAN=1 builds everything with ASan+UBSan into build-san/.

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
PKG_CONFIG ?= pkg-config

PKGS := libcurl yajl libnl-route-3.0 popt sqlite3 libnftables
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1)

CC ?= cc
CFLAGS ?= -O2 -g
# What the build needs, whatever CFLAGS, CPPFLAGS, LDFLAGS and LDLIBS a
# packager passes on the command line (which would replace, not extend, them).
VISP_CPPFLAGS := -D_GNU_SOURCE -DVISP_VERSION='"$(VERSION)"' -Ilib -Icmd \
		 $(shell $(PKG_CONFIG) --cflags $(PKGS))
VISP_CFLAGS := -std=gnu11 -Wall -Wextra -Wmissing-prototypes -Wformat=2 -Wno-unused-parameter
# Linked: what every command needs. libcurl, libnl, SQLite and libnftables are
# opened on first use by the module that needs them (lib/dl.h): each costs
# every run of visp a fraction of a millisecond to milliseconds otherwise.
# The tests link them all (test_leasedb inspects stores with SQLite).
LINKED := yajl popt
# popt and yajl go into the binary when their static archives are installed
# (Debian's libpopt-dev and libyajl-dev ship them): a shared library costs
# every run the dynamic loader's work, five or six page faults each (tens of
# microseconds apiece on a VM), for what is here a few KiB of code.
# STATIC_LIBS= links them shared.
STATIC_LIBS ?= popt yajl
archive_of = $(firstword $(wildcard $(addprefix $(shell $(PKG_CONFIG) --variable=libdir $(1))/lib$(1),.a _s.a)))
STATIC_ARCHIVES := $(foreach l,$(filter $(STATIC_LIBS),$(LINKED)),$(call archive_of,$(l)))
SHARED_LINKED := $(foreach l,$(LINKED),$(if $(and $(filter $(l),$(STATIC_LIBS)),$(call archive_of,$(l))),,$(l)))
VISP_LIBS := $(STATIC_ARCHIVES) $(if $(strip $(SHARED_LINKED)),$(shell $(PKG_CONFIG) --libs $(SHARED_LINKED))) -ldl
TEST_LIBS := $(shell $(PKG_CONFIG) --libs $(filter-out libcurl,$(PKGS)) cmocka)

ifeq ($(SAN),1)
B := build-san
SAN_FLAGS := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
B := build
SAN_FLAGS :=
endif
COMPILE = $(CC) $(VISP_CPPFLAGS) $(CPPFLAGS) $(VISP_CFLAGS) $(CFLAGS) $(SAN_FLAGS)

ifeq ($(V),1)
Q :=
say :=
else
Q := @
say = @printf '  %-6s %s\n' $(1) $(2);
endif

LIB_SRCS := $(sort $(wildcard lib/*.c))
CMD_SRCS := $(sort $(wildcard cmd/*.c))
TEST_SRCS := $(sort $(wildcard tests/unit/test_*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)
CMD_OBJS := $(CMD_SRCS:%.c=$(B)/%.o) $(B)/visp.o
TEST_BINS := $(TEST_SRCS:tests/unit/%.c=$(B)/tests/%)

# ./visp is the plain build: a SAN=1 build stays in build-san/.
ifeq ($(SAN),1)
all: $(B)/visp
else
all: $(B)/visp visp
endif

# The binary people run lives at the top, like wg's. Renamed into place, so a
# copy still running (a test's listener) never makes the build fail.
visp: $(B)/visp
	$(Q)cp $< $@.tmp && mv -f $@.tmp $@

$(B)/visp: $(CMD_OBJS) $(B)/libvisp.a
	$(call say,LINK,$@)$(CC) $(CFLAGS) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(VISP_LIBS) $(LDLIBS)

$(B)/libvisp.a: $(LIB_OBJS)
	$(call say,AR,$@)rm -f $@ && $(AR) rcs $@ $^

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(COMPILE) -MMD -MP -c -o $@ $<

$(B)/tests/%: tests/unit/%.c $(B)/libvisp.a
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(COMPILE) -Itests/unit -MMD -MP $(LDFLAGS) -o $@ $< $(B)/libvisp.a \
		$(VISP_LIBS) $(TEST_LIBS) $(LDLIBS)

tests: $(TEST_BINS)

# Every build and test dependency for a fresh Debian machine.
deps:
	$(Q)tests/deps.sh

check: all tests
	$(Q)B=$(B) tests/run

bench: all
	$(Q)B=$(B) tests/bench/run

# Fuzzing: make fuzz [FUZZ_TIME=60]. clang + libFuzzer, objects in build-fuzz/
# (never build/). Each harness runs FUZZ_TIME seconds on a scratch copy of
# tests/fuzz/corpus/<harness>/, so new corpus entries never land in the repo;
# crash reproducers go to build-fuzz/artifacts/. The library is one archive
# built with coverage but without libFuzzer's main, so a harness links only
# the modules it reaches and no list of sources can go stale.
FUZZ_TIME ?= 60
FUZZ_CC ?= clang
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS := -g -O1 $(VISP_CFLAGS) $(filter-out -DVISP_VERSION=%,$(VISP_CPPFLAGS)) \
	       -DVISP_VERSION='"fuzz"'
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=build-fuzz/%.o)

build-fuzz/lib/%.o: lib/%.c
	@mkdir -p $(dir $@)
	$(call say,FUZZCC,$@)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) -MMD -MP -c -o $@ $<

build-fuzz/libvisp.a: $(FUZZ_LIB_OBJS)
	$(call say,AR,$@)rm -f $@ && $(AR) rcs $@ $^

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c build-fuzz/libvisp.a
	$(call say,FUZZCC,$@)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) -MMD -MP -o $@ $< build-fuzz/libvisp.a $(VISP_LIBS) $(TEST_LIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	$(Q)mkdir -p build-fuzz/artifacts; fail=; \
	for bin in $(FUZZ_BINS); do \
		name=$${bin#build-fuzz/}; \
		scratch=$$(mktemp -d "$${TMPDIR:-/tmp}/visp-$$name.XXXXXX") || exit 1; \
		[ -d tests/fuzz/corpus/$$name ] && cp -R tests/fuzz/corpus/$$name/. "$$scratch"/; \
		printf '  %-6s %s (%ss)\n' FUZZ $$name $(FUZZ_TIME); \
		if ! $$bin -max_total_time=$(FUZZ_TIME) -timeout=10 -print_final_stats=1 \
			-artifact_prefix=build-fuzz/artifacts/$$name- "$$scratch" \
			>build-fuzz/$$name.log 2>&1; then \
			tail -n 60 build-fuzz/$$name.log; fail="$$fail $$name"; \
		else \
			grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::average_exec_per_sec' \
				build-fuzz/$$name.log | sed 's/^/\t/'; \
		fi; \
		rm -rf "$$scratch"; \
	done; \
	if [ -n "$$fail" ]; then echo "fuzz: crashed:$$fail (logs in build-fuzz/)" >&2; exit 1; fi

fuzz-clean:
	rm -rf build-fuzz

clean: fuzz-clean

# install: the binary, visp(8), the bash completion, the systemd units (with
# @BINDIR@ replaced) and the sysusers.d entry of the "visp" user; uninstall
# removes exactly those files (the directories may be shared: they stay).
UNITS := $(notdir $(wildcard systemd/*.service systemd/*.socket systemd/*.timer))
INSTALLED := $(BINDIR)/visp $(MANDIR)/man8/visp.8 $(BASHCOMPDIR)/visp \
	     $(SYSUSERSDIR)/visp.conf $(UNITS:%=$(SYSTEMDUNITDIR)/%)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	install -m 0755 $(B)/visp $(DESTDIR)$(BINDIR)/visp
	install -m 0644 man/visp.8 $(DESTDIR)$(MANDIR)/man8/visp.8
	install -m 0644 completions/visp.bash $(DESTDIR)$(BASHCOMPDIR)/visp
	install -m 0644 systemd/visp.sysusers $(DESTDIR)$(SYSUSERSDIR)/visp.conf
	set -e; for u in $(UNITS); do \
		sed 's|@BINDIR@|$(BINDIR)|g' systemd/$$u >$(DESTDIR)$(SYSTEMDUNITDIR)/$$u; \
		chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u; \
	done

uninstall:
	rm -f $(INSTALLED:%=$(DESTDIR)%)

clean:
	rm -rf build build-san visp

.PHONY: all tests deps check bench install uninstall clean fuzz fuzz-build fuzz-clean
-include $(LIB_OBJS:.o=.d) $(CMD_OBJS:.o=.d) $(TEST_BINS:=.d)
-include $(FUZZ_LIB_OBJS:.o=.d) $(FUZZ_BINS:=.d)
