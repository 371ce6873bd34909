# bandbridge: plain GNU make with pkg-config.
#
#   make                      build ./bandbridge
#   make check                unit + integration tests (real jackd, dummy backend)
#   make check-sanitize       the same under AddressSanitizer+UBSan, then ThreadSanitizer
#   make fuzz                 libFuzzer harnesses (test/tools/fuzz_*.c), FUZZ_SECONDS each (clang)
#   make bench                benchmarks (latency, CPU, churn), writes bench/results.md
#   make bench-noseal         hub, join and bbload without packet protection (benchmark only)
#   make bench-scale          the hub at 8 to 128 musicians, Jamulus beside it, writes bench/scale.md
#   make bench-two-server     hub and musician on two jackds (periods 64/128, 64/256), bench/two_server.md
#   make install              PREFIX=/usr/local DESTDIR= (binary, its links
#                             bandbridge-hub and bandbridge-join, man pages, the Open
#                             Stage Control layout, the systemd user unit bandbridge-hub.service)
#   make V=1                  show full commands;  make WERROR=1  warnings are errors
#   make SAN=address,undefined   build into build-san/ with sanitizers
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DATADIR    ?= $(PREFIX)/share/bandbridge
# systemd looks for user units in /usr/lib/systemd/user and /usr/local/lib/systemd/user
# (and ~/.local/share/systemd/user: PREFIX=~/.local puts it there).
USERUNITDIR ?= $(if $(filter $(HOME)/.local,$(PREFIX)),$(PREFIX)/share/systemd/user,$(PREFIX)/lib/systemd/user)
PKG_CONFIG ?= pkg-config
CC         ?= cc
OPTIMIZATIONS ?= -O2
# The one place the version is written: --version, /info and `make install`'s man
# pages say it; test/it_version.sh checks that man/ and README.md say the same.
VERSION    := 0.1.0

PKGS := jack liblo sqlite3 opus libsodium sndfile samplerate
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
# make NOSEAL=1 (make bench-noseal): hub, join and bbload without packet
# protection (stream.c), into build/bench-noseal/, for the benchmark that
# measures what sealing costs (bench/run_bench.sh BENCH_ONLY=seal) only.
ifdef NOSEAL
BUILD := build/bench-noseal
VERSION := $(VERSION)-noseal
NOSEAL_FLAGS := -DBB_BENCH_NO_SEAL
endif

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN += -Werror
endif
override CFLAGS += -std=c17 -g $(OPTIMIZATIONS) $(WARN) -fno-finite-math-only \
	-D_GNU_SOURCE -DBB_VERSION='"$(VERSION)"' -Iinclude $(PKG_CFLAGS) $(SANFLAGS) $(NOSEAL_FLAGS) -MMD -MP
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
            $(BUILD)/oscstorm $(BUILD)/bbrelay $(BUILD)/bbglitch $(BUILD)/bbattack

# Fuzz harnesses: every test/tools/fuzz_NAME.c (see test/tools/fuzz.h). Each
# is built with a standalone driver into $(BUILD)/test_fuzz_NAME, which
# make check runs (seeds and deterministic mutations, any compiler), and by
# make fuzz with clang's libFuzzer into $(BUILD)/fuzz/fuzz_NAME.
FUZZ_NAMES   := $(patsubst test/tools/fuzz_%.c,%,$(filter-out test/tools/fuzz_driver.c,\
                  $(wildcard test/tools/fuzz_*.c)))
FUZZ_DRIVERS := $(FUZZ_NAMES:%=$(BUILD)/test_fuzz_%)

ifneq ($(SAN)$(NOSEAL),)
BIN := $(BUILD)/bandbridge
else
BIN := bandbridge
endif

# bandbridge-hub and bandbridge-join: links to the program, whose name picks
# serve or join (src/main.c), so a session manager can start each by its
# executable name alone.
FACES := $(addprefix $(dir $(BIN)),bandbridge-hub bandbridge-join)

all: $(BIN) $(FACES) $(TESTS) $(TOOLS) $(FUZZ_DRIVERS)

$(FACES): | $(BIN)
	$(Q)ln -sfn bandbridge $@

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

$(BUILD)/bbprobe: test/tools/bbprobe.c $(BUILD)/libbb.a | $(BUILD)
	@$(if $(Q),printf '    LD %s\n' $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bbload: test/tools/bbload.c $(BUILD)/libbb.a | $(BUILD)
	@$(if $(Q),printf '    LD %s\n' $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The attacks of the security issue against a hub (it_attack.sh): libbb's handshake, liblo.
$(BUILD)/bbattack: test/tools/bbattack.c $(BUILD)/libbb.a | $(BUILD)
	@$(if $(Q),printf '    LD %s\n' $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fake_nsm: test/tools/fake_nsm.c | $(BUILD)
	@$(if $(Q),printf '    LD %s\n' $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

# OSC load: several controllers moving mix settings (liblo only).
$(BUILD)/oscstorm: test/tools/oscstorm.c | $(BUILD)
	@$(if $(Q),printf '    LD %s\n' $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

# UDP impairment relay (delay, jitter, loss, bursts, reordering, outages): libc only.
$(BUILD)/bbrelay: test/tools/bbrelay.c | $(BUILD)
	@$(if $(Q),printf '    LD %s\n' $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< -lpthread -lm

# Glitch counter: plays a known tone into a path and counts what comes back wrong (libjack).
$(BUILD)/bbglitch: test/tools/bbglitch.c | $(BUILD)
	@$(if $(Q),printf '    LD %s\n' $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

# The RT-safety checker is preloaded into other programs: never sanitized.
$(BUILD)/rtcheck.so: test/tools/rtcheck.c | $(BUILD)
	@$(if $(Q),printf '    LD %s\n' $@)
	$(Q)$(CC) -std=c17 -g -O2 $(WARN) -D_GNU_SOURCE -Iinclude -fPIC -shared -o $@ $< -ldl -lpthread

# A JACK client that breaks the RT rules on purpose: proves rtcheck.so catches it.
$(BUILD)/rt_violator: test/tools/rt_violator.c | $(BUILD)
	@$(if $(Q),printf '    LD %s\n' $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

# The harness with the driver's main(). The shorter stem makes this rule
# win over $(BUILD)/test_% for these names.
$(BUILD)/test_fuzz_%: test/tools/fuzz_%.c test/tools/fuzz_driver.c test/tools/fuzz.h $(BUILD)/libbb.a | $(BUILD)
	@$(if $(Q),printf '    LD %s\n' $@)
	$(Q)$(CC) $(CFLAGS) -Itest/tools $(LDFLAGS) -o $@ $(filter %.c %.a,$^) $(LDLIBS)

# make fuzz: clang is optional (scripts/setup.sh does not install it); the
# library is compiled again with clang, with coverage for libFuzzer and
# ASan+UBSan, into $(FUZZ_DIR). Each harness starts from the driver's seeds
# and keeps its corpus in $(FUZZ_DIR)/corpus-NAME between runs; a crash
# stops make with the input saved as $(FUZZ_DIR)/NAME-crash-*.
CLANG        ?= $(shell command -v clang 2>/dev/null)
FUZZ_SECONDS ?= 20
FUZZ_DIR     := $(BUILD)/fuzz
# Not -Werror: clang warns about other things than gcc, in code whose
# warnings the gcc build (WERROR=1) already rules on.
FUZZ_CFLAGS  := -std=c17 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Wno-unused-parameter \
                -D_GNU_SOURCE -DBB_VERSION='"$(VERSION)"' -Iinclude -Itest/tools $(PKG_CFLAGS) \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined

$(FUZZ_DIR):
	$(Q)mkdir -p $@

$(FUZZ_DIR)/%.o: src/%.c | $(FUZZ_DIR)
	@$(if $(Q),printf '    CLANG %s\n' $<)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/libbb.a: $(LIB_SRC:src/%.c=$(FUZZ_DIR)/%.o)
	$(Q)$(AR) rcs $@ $^

$(FUZZ_DIR)/fuzz_%: test/tools/fuzz_%.c test/tools/fuzz.h $(FUZZ_DIR)/libbb.a
	@$(if $(Q),printf '    CLANG %s\n' $@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_DIR)/libbb.a $(LDLIBS)

ifeq ($(CLANG),)
fuzz:
	@echo "make fuzz: clang not found, no libFuzzer harness built (install clang);" \
	    "their standalone drivers ($(BUILD)/test_fuzz_*) run in make check"
else
fuzz: $(FUZZ_DRIVERS) $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)
	$(Q)set -e; for f in $(FUZZ_NAMES); do \
	    c=$(FUZZ_DIR)/corpus-$$f; log=$(FUZZ_DIR)/$$f.log; \
	    $(BUILD)/test_fuzz_$$f --seeds $$c >/dev/null; \
	    echo "    FUZZ $$f for $(FUZZ_SECONDS) s (corpus $$c, log $$log)"; \
	    if ! $(FUZZ_DIR)/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	            -artifact_prefix=$(FUZZ_DIR)/$$f- -print_final_stats=1 $$c >$$log 2>&1; then \
	        tail -n 60 $$log; echo "make fuzz: $$f broke (input saved as $(FUZZ_DIR)/$$f-*)"; exit 1; \
	    fi; \
	    grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' $$log | tr '\n' ' '; echo; \
	done
endif

check: all
	$(Q)BUILD=$(BUILD) BIN=$(BIN) test/run_tests.sh

check-sanitize:
	$(Q)$(MAKE) --no-print-directory SAN=address,undefined check
	$(Q)$(MAKE) --no-print-directory SAN=thread check

bench: all bench-noseal
	$(Q)BUILD=$(BUILD) BIN=$(BIN) bench/run_bench.sh

# The benchmark's build without sealing (NOSEAL above): never installed.
bench-noseal:
	$(Q)$(MAKE) --no-print-directory NOSEAL=1 build/bench-noseal/bandbridge build/bench-noseal/bbload

# The hub at 8 to 128 musicians with Jamulus beside it (bench/scale.sh, under
# 10 minutes): writes bench/scale.md.
bench-scale: all
	$(Q)bench/scale.sh

# Impaired networks (bench/impair.sh, 10 to 13 minutes): bandbridge, Jamulus
# and JackTrip through bbrelay; writes bench/impair.md.
bench-impair: all
	$(Q)BUILD=$(BUILD) BIN=$(BIN) bench/impair.sh

# Two JACK servers, two periods (bench/two_server.sh, about 5 minutes): drift
# estimates, round trip and glitches; writes bench/two_server.md.
bench-two-server: all
	$(Q)BUILD=$(BUILD) BIN=$(BIN) bench/two_server.sh

version:
	@echo $(VERSION)

install: $(BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/bandbridge
	ln -sfn bandbridge $(DESTDIR)$(BINDIR)/bandbridge-hub
	ln -sfn bandbridge $(DESTDIR)$(BINDIR)/bandbridge-join
	install -m 644 man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/*.7 $(DESTDIR)$(MANDIR)/man7/
	install -d $(DESTDIR)$(DATADIR)/open-stage-control
	install -m 644 share/open-stage-control/* $(DESTDIR)$(DATADIR)/open-stage-control/
	install -d $(DESTDIR)$(USERUNITDIR)
	sed 's|@BINDIR@|$(BINDIR)|g' share/systemd/bandbridge-hub.service \
	    >$(DESTDIR)$(USERUNITDIR)/bandbridge-hub.service
	chmod 644 $(DESTDIR)$(USERUNITDIR)/bandbridge-hub.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/bandbridge $(DESTDIR)$(BINDIR)/bandbridge-hub \
	    $(DESTDIR)$(BINDIR)/bandbridge-join
	cd man && for m in *.1; do rm -f $(DESTDIR)$(MANDIR)/man1/$$m; done
	cd man && for m in *.7; do rm -f $(DESTDIR)$(MANDIR)/man7/$$m; done
	rm -rf $(DESTDIR)$(DATADIR)/open-stage-control
	rm -f $(DESTDIR)$(USERUNITDIR)/bandbridge-hub.service
	-rmdir $(DESTDIR)$(DATADIR)

clean:
	rm -rf build build-san-* bandbridge bandbridge-hub bandbridge-join

.PHONY: all check check-sanitize fuzz bench bench-noseal bench-scale bench-impair bench-two-server version install uninstall clean
-include $(wildcard $(BUILD)/*.d)
