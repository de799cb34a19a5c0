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
PKG_CONFIG ?= pkg-config

PKGS := libcurl yajl libnl-route-3.0 popt libsodium sqlite3 libnftables
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1)

CC ?= cc
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Wmissing-prototypes -Wformat=2 \
	  -Wno-unused-parameter -D_GNU_SOURCE -DVISP_VERSION='"$(VERSION)"' \
	  -Ilib -Icmd $(shell $(PKG_CONFIG) --cflags $(PKGS))
LDLIBS += $(shell $(PKG_CONFIG) --libs $(PKGS))

ifeq ($(SAN),1)
B := build-san
CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
B := build
endif

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

all: $(B)/visp visp

# The binary people run lives at the top, like wg's.
visp: $(B)/visp
	$(Q)cp $< $@

$(B)/visp: $(CMD_OBJS) $(B)/libvisp.a
	$(call say,LINK,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/libvisp.a: $(LIB_OBJS)
	$(call say,AR,$@)rm -f $@ && $(AR) rcs $@ $^

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(B)/tests/%: tests/unit/%.c $(B)/libvisp.a
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(CFLAGS) -Itests/unit -MMD -MP $(LDFLAGS) -o $@ $< $(B)/libvisp.a $(LDLIBS) $(shell $(PKG_CONFIG) --libs cmocka)

tests: $(TEST_BINS)

# Every build and test dependency for a fresh Debian machine.
deps:
	$(Q)tests/deps.sh

check: all tests
	$(Q)B=$(B) tests/run

bench: all
	$(Q)B=$(B) tests/bench/run

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(BASHCOMPDIR)
	install -m 0755 $(B)/visp $(DESTDIR)$(BINDIR)/visp
	install -m 0644 man/visp.8 $(DESTDIR)$(MANDIR)/man8/visp.8
	install -m 0644 completions/visp.bash $(DESTDIR)$(BASHCOMPDIR)/visp
	if [ -d systemd ] && ls systemd/*.s* >/dev/null 2>&1; then \
		install -d $(DESTDIR)$(SYSTEMDUNITDIR); \
		for u in systemd/*.service systemd/*.socket systemd/*.timer; do \
			[ -f "$$u" ] || continue; \
			sed 's|@BINDIR@|$(BINDIR)|g' "$$u" > $(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/}; \
			chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/}; \
		done; \
	fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/visp $(DESTDIR)$(MANDIR)/man8/visp.8 $(DESTDIR)$(BASHCOMPDIR)/visp
	for u in systemd/*.service systemd/*.socket systemd/*.timer; do \
		[ -f "$$u" ] && rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/}; \
	done; true

clean:
	rm -rf build build-san visp

.PHONY: all tests deps check bench install uninstall clean
-include $(LIB_OBJS:.o=.d) $(CMD_OBJS:.o=.d) $(TEST_BINS:=.d)
