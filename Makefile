# bandbridge: plain GNU make with pkg-config.
#
#   make                      build ./bandbridge
#   make check                unit + integration tests (real jackd, dummy backend)
#   make check-sanitize       the same under AddressSanitizer+UBSan, then ThreadSanitizer
#   make bench                benchmarks (latency, CPU, churn), writes bench/results.md
#   make install              PREFIX=/usr/local DESTDIR= (binary and man pages)
#   make V=1                  show full commands;  make WERROR=1  warnings are errors
#   make SAN=address,undefined   build into build-san/ with sanitizers
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DATADIR    ?= $(PREFIX)/share/bandbridge
PKG_CONFIG ?= pkg-config
CC         ?= cc
OPTIMIZATIONS ?= -O2
VERSION    := $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0)

PKGS := jack liblo sqlite3 opus libsodium samplerate
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

comma := ,
ifdef SAN
BUILD := build-san-$(subst $(comma),-,$(SAN))
# UBSan only prints a report and carries on by default; a test that throws away
# its program's stderr would still pass. Make every UBSan report fatal instead.
SANFLAGS := -fsanitize=$(SAN) -fno-omit-frame-pointer \
	$(if $(findstring undefined,$(SAN)),-fno-sanitize-recover=undefined)
else
BUILD := build
SANFLAGS :=
endif

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN += -Werror
endif
override CFLAGS += -std=c17 -g $(OPTIMIZATIONS) $(WARN) -fno-finite-math-only \
	-D_GNU_SOURCE -DBB_VERSION='"$(VERSION)"' -Iinclude $(PKG_CFLAGS) $(SANFLAGS) -MMD -MP
override LDFLAGS += $(SANFLAGS)
LDLIBS := $(PKG_LIBS) -lpthread -lm

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard test/test_*.c)
TESTS    := $(TEST_SRC:test/%.c=$(BUILD)/%)
TOOLS    := $(BUILD)/bbprobe $(BUILD)/bbload $(BUILD)/fake_nsm $(BUILD)/rtcheck.so $(BUILD)/rt_violator \
            $(BUILD)/oscstorm

ifdef SAN
BIN := $(BUILD)/bandbridge
else
BIN := bandbridge
endif

all: $(BIN) $(TESTS) $(TOOLS)

$(BUILD):
	$(Q)mkdir -p $@

$(BUILD)/%.o: src/%.c | $(BUILD)
	@$(if $(Q),printf '    CC %s\n' $<)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/test_%.o: test/test_%.c | $(BUILD)
	@$(if $(Q),printf '    CC %s\n' $<)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

# The mixing loops are N x N work per period: let the compiler vectorise them.
$(BUILD)/mixer.o: override CFLAGS += -O3

$(BUILD)/libbb.a: $(LIB_OBJ)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BIN): $(BUILD)/main.o $(BUILD)/libbb.a
	@$(if $(Q),printf '    LD %s\n' $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/test_%: $(BUILD)/test_%.o $(BUILD)/libbb.a
	@$(if $(Q),printf '    LD %s\n' $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bbprobe: test/bbprobe.c $(BUILD)/libbb.a | $(BUILD)
	@$(if $(Q),printf '    LD %s\n' $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bbload: test/bbload.c $(BUILD)/libbb.a | $(BUILD)
	@$(if $(Q),printf '    LD %s\n' $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fake_nsm: test/fake_nsm.c | $(BUILD)
	@$(if $(Q),printf '    LD %s\n' $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

# OSC load: several controllers moving mix settings (liblo only).
$(BUILD)/oscstorm: test/oscstorm.c | $(BUILD)
	@$(if $(Q),printf '    LD %s\n' $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

# The RT-safety checker is preloaded into other programs: never sanitized.
$(BUILD)/rtcheck.so: test/rtcheck.c | $(BUILD)
	@$(if $(Q),printf '    LD %s\n' $@)
	$(Q)$(CC) -std=c17 -g -O2 $(WARN) -D_GNU_SOURCE -Iinclude -fPIC -shared -o $@ $< -ldl -lpthread

# A JACK client that breaks the RT rules on purpose: proves rtcheck.so catches it.
$(BUILD)/rt_violator: test/rt_violator.c | $(BUILD)
	@$(if $(Q),printf '    LD %s\n' $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

check: all
	$(Q)BUILD=$(BUILD) BIN=$(BIN) test/run_tests.sh

check-sanitize:
	$(Q)$(MAKE) --no-print-directory SAN=address,undefined check
	$(Q)$(MAKE) --no-print-directory SAN=thread check

bench: all
	$(Q)BUILD=$(BUILD) BIN=$(BIN) bench/run_bench.sh

install: $(BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/bandbridge
	install -m 644 man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/*.7 $(DESTDIR)$(MANDIR)/man7/
	install -d $(DESTDIR)$(DATADIR)/open-stage-control
	install -m 644 share/open-stage-control/* $(DESTDIR)$(DATADIR)/open-stage-control/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/bandbridge
	cd man && for m in *.1; do rm -f $(DESTDIR)$(MANDIR)/man1/$$m; done
	cd man && for m in *.7; do rm -f $(DESTDIR)$(MANDIR)/man7/$$m; done
	rm -rf $(DESTDIR)$(DATADIR)/open-stage-control
	-rmdir $(DESTDIR)$(DATADIR)

clean:
	rm -rf build build-san-* bandbridge

.PHONY: all check check-sanitize bench install uninstall clean
-include $(wildcard $(BUILD)/*.d)
