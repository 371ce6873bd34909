#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_osc_doc.sh: bandbridge-osc(7) against the hub's address table, both
# ways, so that neither can change without the other. The table is what
# `bandbridge serve --osc-doc` prints (src/osc_api.c); no JACK is needed.
# Checks:
#  - the man page's two lists (between `.\" osc-doc received|sent` and
#    `.\" osc-doc end`) are exactly the addresses and arguments of the table;
#  - every address the hub takes has a section (.SS) under ADDRESSES, every
#    section there is an address of the table, and a section whose last part
#    is a variable (/mix/.../<parameter>) lists each of the table's values
#    of it at the start of a line (its parameter table);
#  - every address the hub sends is described outside the lists too.
. "$(dirname "$0")/lib.sh"
bb_init
man=$BB_ROOT/man/bandbridge-osc.7
doc=$BB_TMP/doc

"$BB_BIN" serve --osc-doc >"$doc" 2>"$BB_TMP/doc.err"
check "serve --osc-doc prints the table" test $? -eq 0 -a -s "$doc"
check "the man page is there" test -s "$man"

# roff to plain text: \fIname\fP is a variable, <name> as in the table.
norm() {
    sed -e 's/\\-/-/g' -e 's/\\fI\([^\\]*\)\\f[PR]/<\1>/g' -e 's/\\f[BIRP]//g' \
        -e 's/\\(dq/"/g' -e 's/\\e/\\/g' -e 's/\\&//g' -e 's/\\c$//'
}

# "r ADDRESS ARGS" / "s ADDRESS ARGS", from the table and from the man page.
awk '/^Received:/ { s = "r" } /^Sent by the hub:/ { s = "s" } s && /^\// { print s " " $0 }' \
    "$doc" | sort >"$BB_TMP/table"
norm <"$man" | awk '
    /^\.\\" osc-doc received/ { s = "r"; next }
    /^\.\\" osc-doc sent/     { s = "s"; next }
    /^\.\\" osc-doc end/      { s = ""; next }
    s && /^\// { print s " " $0 }' | sort >"$BB_TMP/listed"
check "the table has addresses ($(wc -l <"$BB_TMP/table"))" test "$(wc -l <"$BB_TMP/table")" -gt 20
comm -23 "$BB_TMP/table" "$BB_TMP/listed" >"$BB_TMP/undocumented"
comm -13 "$BB_TMP/table" "$BB_TMP/listed" >"$BB_TMP/unknown"
while read -r l; do bb_log "in the table, not in the man page's list: $l"; done <"$BB_TMP/undocumented"
while read -r l; do bb_log "in the man page's list, not in the table: $l"; done <"$BB_TMP/unknown"
check "every address of the table is in the man page's list, with its arguments" \
    test ! -s "$BB_TMP/undocumented"
check "every address of the man page's list is in the table, with its arguments" \
    test ! -s "$BB_TMP/unknown"

# The sections under ADDRESSES ("H heading") and the first word of each
# of their lines ("L heading word").
norm <"$man" | awk '
    /^\.SH / { in_addr = ($0 ~ /^\.SH ADDRESSES/); h = ""; next }
    in_addr && /^\.SS \// { h = $2; print "H " h; next }
    in_addr && h != "" && !/^\./ { print "L " h " " $1 }' >"$BB_TMP/sections"
awk '$1 == "r" { print $2 }' "$BB_TMP/table" >"$BB_TMP/taken"
awk '{ print $2 }' "$BB_TMP/table" >"$BB_TMP/all"

# Segment by segment; a heading's <variable> stands for any segment.
cat >"$BB_TMP/match.awk" <<'AWK'
function fits(hd, ad,    a, b, n, i) {
    n = split(hd, a, "/")
    if (n != split(ad, b, "/"))
        return 0
    for (i = 1; i <= n; i++)
        if (a[i] != b[i] && a[i] !~ /^<.*>$/)
            return 0
    return 1
}
AWK
cat >"$BB_TMP/sections.awk" <<'AWK'
FILENAME == ARGV[1] && $1 == "H" { heads[$2] = 1; next }
FILENAME == ARGV[1] && $1 == "L" { lines[$2 " " $3] = 1; next }
FILENAME == ARGV[2] {
    found = 0
    for (hd in heads)
        if (fits(hd, $1)) {
            found = 1
            # A variable last part in the heading: the value starts a line.
            n = split(hd, a, "/"); split($1, b, "/")
            if (a[n] ~ /^<.*>$/ && b[n] !~ /^<.*>$/ && !((hd " " b[n]) in lines))
                print "not in the parameter list of " hd ": " $1
        }
    if (!found)
        print "no section under ADDRESSES: " $1
}
AWK
awk -f "$BB_TMP/match.awk" -f "$BB_TMP/sections.awk" "$BB_TMP/sections" "$BB_TMP/taken" >"$BB_TMP/nosection" ||
    echo "awk failed" >>"$BB_TMP/nosection"
while read -r l; do bb_log "$l"; done <"$BB_TMP/nosection"
check "every address the hub takes has its section, and its parameter in the section's list" \
    test ! -s "$BB_TMP/nosection"
cat >"$BB_TMP/stale.awk" <<'AWK'
FILENAME == ARGV[1] { all[$1] = 1; next }
$1 == "H" { found = 0; for (ad in all) if (fits($2, ad)) found = 1
            if (!found) print "a section for no address of the table: " $2 }
AWK
awk -f "$BB_TMP/match.awk" -f "$BB_TMP/stale.awk" "$BB_TMP/all" "$BB_TMP/sections" >"$BB_TMP/stale" ||
    echo "awk failed" >>"$BB_TMP/stale"
while read -r l; do bb_log "$l"; done <"$BB_TMP/stale"
check "every section under ADDRESSES is an address of the table" test ! -s "$BB_TMP/stale"

# What the hub sends is described somewhere besides the list.
norm <"$man" | awk '/^\.\\" osc-doc (received|sent)/ { s = 1 } !s { print } /^\.\\" osc-doc end/ { s = 0 }' \
    >"$BB_TMP/prose"
missing=
for a in $(awk '$1 == "s" { print $2 }' "$BB_TMP/table"); do
    grep -qF -- "$a" "$BB_TMP/prose" || missing="$missing $a"
done
[ -n "$missing" ] && bb_log "only in the list:$missing"
check "every address the hub sends is described outside the list" test -z "$missing"
bb_done
