#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_docs.sh: README.md and the man pages say what the program does.
# Checks: one version (the Makefile's VERSION) in `bandbridge --version`,
# /info, every man page's title line and README.md; the /info example of
# bandbridge-osc(7) is what a hub at 48000 Hz, period 64 answers; every
# option README.md's command lines use exists in that command's --help;
# `make install` into a temporary prefix installs the program, the man
# pages and the systemd user unit, whose ExecStart is the installed
# program (and `systemd-analyze verify` accepts the unit where systemd is
# installed).
. "$(dirname "$0")/lib.sh"
bb_init

version=$(make -s -C "$BB_ROOT" version)
check "the Makefile has a version ($version)" test -n "$version"
check "bandbridge --version says it ($("$BB_BIN" --version))" test "$("$BB_BIN" --version)" = "bandbridge $version"
for m in "$BB_ROOT"/man/*.[17]; do
    check "$(basename "$m") is of bandbridge $version" grep -q "^\.TH .*\"bandbridge $version\"" "$m"
done
check "README.md names the version" grep -q "bandbridge $version" "$BB_ROOT/README.md"

# The options in README's command lines.
{
    grep -oE '^ +bandbridge (serve|join)[^#]*' "$BB_ROOT/README.md"
    grep -oE '`bandbridge (serve|join) [^`]*`' "$BB_ROOT/README.md" | tr -d '`'
} | while read -r _ cmd rest; do
    for o in $(grep -oE -- '--[a-z-]+' <<<"$rest"); do echo "$cmd $o"; done
done | sort -u >"$BB_TMP/readme-opts.txt"
check "README.md's command lines use options ($(wc -l <"$BB_TMP/readme-opts.txt"))" test -s "$BB_TMP/readme-opts.txt"
while read -r cmd o; do
    check "README: bandbridge $cmd $o is in bandbridge $cmd --help" \
        bash -c "'$BB_BIN' $cmd --help | grep -qE -- '$o( |,|\$)'"
done <"$BB_TMP/readme-opts.txt"

# /info: the man page's example, from a real hub.
bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }
port=$(bb_free_udp_port)
osc=$(bb_free_udp_port)
bb_bg "$BB_TMP/hub.log" "$BB_BIN" serve --port "$port" --osc-port "$osc" --db none
hub=$BB_LASTPID
check "hub is up" bb_wait_for ctl /info
info=$(q /info)
doc=$(awk '/^\$ bandbridge ctl \/info$/ { getline; print; exit }' "$BB_ROOT/man/bandbridge-osc.7" | sed 's/\\-/-/g')
check "/info answers what bandbridge-osc(7) shows ('$info' vs '$doc')" test "$info" = "$doc"
bb_kill "$hub"

# make install, into a prefix of our own.
inst=$BB_TMP/inst
# -o: the program under test is installed as it is, never rebuilt here.
make -s -C "$BB_ROOT" -o "$BIN" install BIN="$BIN" PREFIX="$inst" >"$BB_TMP/install.log" 2>&1
rc=$?
check "make install PREFIX=$inst works (exit $rc)" test "$rc" = 0
unit=$inst/lib/systemd/user/bandbridge-hub.service
check "it installs bin/bandbridge and the man pages" bash -c \
    "[ -x '$inst/bin/bandbridge' ] && [ -f '$inst/share/man/man1/bandbridge.1' ] && [ -f '$inst/share/man/man7/bandbridge-osc.7' ]"
check "it installs the user unit bandbridge-hub.service" test -f "$unit"
check "... whose ExecStart is the installed hub" grep -qx "ExecStart=$inst/bin/bandbridge serve" "$unit"
check "... restarted on failure, after PipeWire or JACK" bash -c \
    "grep -qx 'Restart=on-failure' '$unit' && grep -q '^After=.*pipewire.service' '$unit' && grep -qx 'WantedBy=default.target' '$unit'"
if command -v systemd-analyze >/dev/null; then
    # Documentation=man:bandbridge(1) is looked up with man(1): in the prefix.
    MANPATH=$inst/share/man systemd-analyze verify "$unit" >"$BB_TMP/verify.log" 2>&1
    rc=$?
    sed 's/^/# verify: /' "$BB_TMP/verify.log"
    check "systemd-analyze verify accepts the unit (exit $rc)" test "$rc" = 0
else
    bb_log "systemd-analyze is not installed: the unit is not verified by systemd"
fi
make -s -C "$BB_ROOT" uninstall BIN="$BIN" PREFIX="$inst" >>"$BB_TMP/install.log" 2>&1
check "make uninstall removes the unit and the program" bash -c "[ ! -e '$unit' ] && [ ! -e '$inst/bin/bandbridge' ]"
bb_done
