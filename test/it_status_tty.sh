#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_status_tty.sh: `bandbridge status` in a real 80x24 terminal (a tmux
# pane; what the test reads is tmux's screen, as a user sees it). Checks:
# the table fits 80 columns (the header and each musician's row are one
# screen line, ending with the underruns), the terminal is in cbreak mode
# while it runs, q quits with exit status 0 and the terminal back in
# canonical mode with echo; when the hub goes, the stale table is cleared
# and one line says so, not one more per second; Ctrl-C also quits with
# the terminal restored; --once output is at most 80 columns wide.
. "$(dirname "$0")/lib.sh"
bb_init
command -v tmux >/dev/null || { not_ok "tmux is installed (scripts/setup.sh)"; bb_done; }
bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }

port=$(bb_free_udp_port)
osc=$(bb_free_udp_port)
bb_bg "$BB_TMP/hub.log" "$BB_BIN" serve --port "$port" --osc-port "$osc" --db none
hub=$BB_LASTPID
check "hub is up" bb_wait_port bandbridge:main_L
bb_join alice-the-longest-name float --tone 440 --channels 2; alice=$BB_LASTPID
bb_join bob float; bob=$BB_LASTPID
check "two musicians joined" bb_wait_for bash -c "jack_lsp | grep -q '^bandbridge:bob_1' && jack_lsp | grep -q '^bandbridge:alice-the-longest-name_2'"

"$BB_BIN" status --port "$osc" --once >"$BB_TMP/once.txt" 2>&1
sed 's/^/# /' "$BB_TMP/once.txt"
check "status --once: a row for each musician" bash -c \
    "grep -q ' alice-the~ ' '$BB_TMP/once.txt' && grep -q ' bob ' '$BB_TMP/once.txt'"
check "... and no line wider than 79 columns" \
    awk 'length > 79 { bad = 1 } END { exit bad }' "$BB_TMP/once.txt"

# A private tmux server, stopped by the test's cleanup (its PID is ours).
TM=(tmux -S "$BB_TMP/tmux.sock")
export TERM=xterm
# run.sh: what the pane runs; the status exit code and the terminal's
# modes afterwards go to files.
cat >"$BB_TMP/run.sh" <<EOF
"$BB_BIN" status --port $osc
echo \$? >"$BB_TMP/rc.\$1"
stty -a >"$BB_TMP/stty.\$1"
sleep 600
EOF
"${TM[@]}" new-session -d -x 80 -y 24 -s bb "bash $BB_TMP/run.sh 1"
BB_PIDS+=("$("${TM[@]}" display -p '#{pid}')")
screen() { "${TM[@]}" capture-pane -p -t bb; }
check "the live table shows both musicians" bb_wait_for bash -c \
    "'${TM[0]}' -S '$BB_TMP/tmux.sock' capture-pane -p -t bb | grep -q ' bob ' && '${TM[0]}' -S '$BB_TMP/tmux.sock' capture-pane -p -t bb | grep -q 'q quits'"
screen >"$BB_TMP/screen1.txt"
sed 's/^/# | /' "$BB_TMP/screen1.txt"
check "the header is one screen line, from # to underruns" grep -Eq '^ *# +name +address .* underruns$' "$BB_TMP/screen1.txt"
check "each musician's row is one line ending with its underruns" bash -c \
    "grep -Eq '^ *[0-9]+ alice-the~ +[0-9.:]+ +float +2 .* -?[0-9]+$' '$BB_TMP/screen1.txt' && grep -Eq '^ *[0-9]+ bob +[0-9.:]+ +float +1 .* -?[0-9]+$' '$BB_TMP/screen1.txt'"
tty=$("${TM[@]}" display -p -t bb '#{pane_tty}')
check "while it runs the terminal is in cbreak mode (-icanon -echo)" bash -c \
    "stty -a -F '$tty' | grep -qw -- -icanon && stty -a -F '$tty' | grep -qw -- -echo"

bb_kill "$alice"
bb_kill "$bob"
bb_kill "$hub"
check "the hub gone: one line says so" bb_wait_for bash -c "[ \"\$('${TM[0]}' -S '$BB_TMP/tmux.sock' capture-pane -p -t bb | grep -c 'no answer since')\" = 1 ]"
sleep 3 # three refreshes: a measuring window, not a synchronisation
screen >"$BB_TMP/screen2.txt"
sed 's/^/# | /' "$BB_TMP/screen2.txt"
check "... still one line after three more refreshes, and the stale table is gone" bash -c \
    "[ \$(grep -c 'no answer' '$BB_TMP/screen2.txt') = 1 ] && ! grep -q 'bob\|underruns' '$BB_TMP/screen2.txt'"

"${TM[@]}" send-keys -t bb q
check "q quits" bb_wait_for test -s "$BB_TMP/rc.1"
check "... with exit status 0 (got $(cat "$BB_TMP/rc.1" 2>/dev/null))" test "$(cat "$BB_TMP/rc.1" 2>/dev/null)" = 0
check "... and the terminal is back: icanon and echo" bash -c \
    "grep -qw icanon '$BB_TMP/stty.1' && grep -qw echo '$BB_TMP/stty.1' && ! grep -qw -- -icanon '$BB_TMP/stty.1'"

# Ctrl-C: the same, through the signal.
"${TM[@]}" new-window -t bb "bash $BB_TMP/run.sh 2"
check "a second live view is up" bb_wait_for bash -c \
    "'${TM[0]}' -S '$BB_TMP/tmux.sock' capture-pane -p -t bb | grep -q 'no answer since'"
"${TM[@]}" send-keys -t bb C-c
check "Ctrl-C quits with status 0 (got $(cat "$BB_TMP/rc.2" 2>/dev/null))" bb_wait_for \
    bash -c "[ \"\$(cat '$BB_TMP/rc.2' 2>/dev/null)\" = 0 ]"
check "... and the terminal is back: icanon and echo" bash -c \
    "grep -qw icanon '$BB_TMP/stty.2' && grep -qw echo '$BB_TMP/stty.2' && ! grep -qw -- -icanon '$BB_TMP/stty.2'"
"${TM[@]}" kill-server 2>/dev/null
bb_done
