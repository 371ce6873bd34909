#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_tablet.sh: the shipped tablet layout (share/open-stage-control/: an Open
# Stage Control 1.x session and its custom module) against a real hub with
# three simulated musicians (bbload). Open Stage Control itself is not run.
#  (a) the session file is well-formed JSON (node, or else an awk JSON parser
#      that is itself checked on good and broken samples), and with node: its
#      structure, every property is one O-S-C (1.26-1.29) knows for that widget
#      type and of the form it expects, every widget has an address or bypass,
#      scripts call only O-S-C's scripting functions, scripts and advanced-syntax
#      blocks compile, and the "My mix" choice cannot leave the browser that
#      made it;
#  (b) every OSC address the layout uses, its @{my_mix} template expanded for
#      the slots in use, answers a query on the hub, never with /error;
#      those under /bandbridge/ stay inside Open Stage Control;
#  (c) with node: the custom module, loaded in a harness that provides the
#      O-S-C module API with real UDP, registers for feedback and meters in
#      slot form, renews its leases, sends the hub nothing but its widgets'
#      addresses (no /root, no panel scroll), passes on changes made by another
#      controller, queries a mix when a browser picks it, converts meters for
#      every meter widget, shows /error, and answers the hub's /cookie.
. "$(dirname "$0")/lib.sh"
bb_init
bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }

OSCDIR=$BB_ROOT/share/open-stage-control
SESSION=$OSCDIR/bandbridge.json
MODULE=$OSCDIR/bandbridge.module.js
check "the session, the custom module and their README are shipped" \
    test -s "$SESSION" -a -s "$MODULE" -a -s "$OSCDIR/README.md"
HAVE_NODE=0   # BB_NO_NODE=1: run as if node were not installed (the awk fallback)
command -v node >/dev/null 2>&1 && [[ ${BB_NO_NODE:-0} != 1 ]] && HAVE_NODE=1

# ---------------------------------------------------------------------------
# (a) well-formed JSON
cat >"$BB_TMP/json.awk" <<'EOF'
# Accepts one well-formed JSON text (RFC 8259), rejects anything else and says why.
function ws() { while (i <= n && index(" \t\r\n", substr(s, i, 1))) i++ }
function bad(m) { if (err == "") err = m " at character " i; return 0 }
function str(   c, u) {
    i++
    while (i <= n) {
        c = substr(s, i, 1)
        if (c == "\"") { i++; return 1 }
        if (c == "\\") {
            c = substr(s, i + 1, 1)
            if (c == "u") {
                u = substr(s, i + 2, 4)
                if (u !~ /^[0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f]$/) return bad("bad \\u escape")
                i += 6
            } else if (c != "" && index("\"\\/bfnrt", c)) i += 2
            else return bad("bad escape")
        } else if (index(ctl, c)) return bad("control character in a string")
        else i++
    }
    return bad("unterminated string")
}
function num() {
    if (!match(substr(s, i, 64), /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/)) return bad("bad number")
    i += RLENGTH
    return 1
}
function val(   c) {
    ws()
    c = substr(s, i, 1)
    if (c == "") return bad("unexpected end")
    if (c == "{") return obj()
    if (c == "[") return arr()
    if (c == "\"") return str()
    if (c == "-" || index("0123456789", c)) return num()
    if (substr(s, i, 4) == "true" || substr(s, i, 4) == "null") { i += 4; return 1 }
    if (substr(s, i, 5) == "false") { i += 5; return 1 }
    return bad("unexpected '" c "'")
}
function obj(   c) {
    i++; ws()
    if (substr(s, i, 1) == "}") { i++; return 1 }
    for (;;) {
        ws()
        if (substr(s, i, 1) != "\"") return bad("expected a string key")
        if (!str()) return 0
        ws()
        if (substr(s, i, 1) != ":") return bad("expected ':'")
        i++
        if (!val()) return 0
        ws(); c = substr(s, i, 1); i++
        if (c == "}") return 1
        if (c != ",") { i--; return bad("expected ',' or '}'") }
    }
}
function arr(   c) {
    i++; ws()
    if (substr(s, i, 1) == "]") { i++; return 1 }
    for (;;) {
        if (!val()) return 0
        ws(); c = substr(s, i, 1); i++
        if (c == "]") return 1
        if (c != ",") { i--; return bad("expected ',' or ']'") }
    }
}
{ s = s $0 "\n" }
END {
    for (k = 1; k < 32; k++) ctl = ctl sprintf("%c", k)
    n = length(s); i = 1; err = ""
    ok = val()
    if (ok) { ws(); if (i <= n) ok = bad("text after the JSON value") }
    if (!ok) { print "invalid JSON: " err; exit 1 }
}
EOF
awk_json() { awk -f "$BB_TMP/json.awk" "$1"; }
# awk_rejects TEXT: the awk parser refuses TEXT.
awk_rejects() { printf '%s' "$1" >"$BB_TMP/bad.json"; ! awk_json "$BB_TMP/bad.json" >/dev/null; }
rejects_samples() {
    awk_rejects '[1,]' && awk_rejects '{a: 1}' && awk_rejects '{"a": 01}' &&
        awk_rejects $'"a\tb"' && awk_rejects '{"a": [1, 2}' && awk_rejects ''
}
rejects_broken_session() {
    ! awk_json "$BB_TMP/truncated.json" >/dev/null && ! awk_json "$BB_TMP/comma.json" >/dev/null
}
printf '%s' '{"a": [1, -2.5e3, true, null, "x\"y\u00e9"], "b": {}}' >"$BB_TMP/good.json"
head -c -200 "$SESSION" >"$BB_TMP/truncated.json"
sed '0,/"widgets": \[/s//"widgets": [,/' "$SESSION" >"$BB_TMP/comma.json"
check "awk JSON parser: accepts a valid sample" awk_json "$BB_TMP/good.json"
check "awk JSON parser: rejects a trailing comma, an unquoted key, 01, a raw tab, a missing ], nothing" \
    rejects_samples
check "awk JSON parser: rejects the session truncated or with a stray comma" rejects_broken_session
if (( HAVE_NODE )); then
    bb_log "JSON checked with node (JSON.parse) and with the awk parser"
    check "the session file is well-formed JSON (node JSON.parse)" \
        node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$SESSION"
else
    bb_log "node is not installed (or BB_NO_NODE=1): JSON checked with the awk parser only; (c) is skipped"
fi
check "the session file is well-formed JSON (awk parser)" awk_json "$SESSION"
# The "My mix" dropdown never sends (bypass), so O-S-C never copies it to other browsers.
my_mix_bypassed() { sed -n '/"id": "my_mix"/,/^ *}/p' "$SESSION" | grep -q '"bypass": true'; }
check "the My mix choice is bypassed: each browser keeps its own" my_mix_bypassed

if (( HAVE_NODE )); then
    cat >"$BB_TMP/session_check.js" <<'EOF'
// node session_check.js SESSION: what Open Stage Control 1.x needs of a session file.
'use strict'
const fs = require('fs')
const s = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
const errors = [], ids = new Set(), widgets = []
const types = ['button', 'switch', 'dropdown', 'menu', 'input', 'textarea', 'file', 'panel',
    'folder', 'root', 'tab', 'modal', 'clone', 'fragment', 'matrix', 'keyboard', 'patchbay',
    'image', 'svg', 'html', 'frame', 'plot', 'eq', 'visualizer', 'led', 'text', 'xy', 'rgb',
    'multixy', 'canvas', 'fader', 'knob', 'encoder', 'range', 'script', 'variable']
const fail = (m) => errors.push(m)
if (s.type !== 'session') fail('type is not "session"')
if (!/^Open Stage Control/.test(s.createdWith || '')) fail('createdWith')
const v = String(s.version || '').split('.').map(Number)
// onValue/onCreate exist from 1.14; a version <= 1.24.2 would be "converted" on load
if (v.length !== 3 || v.some(isNaN) || v[0] !== 1 || v[1] < 25) fail('version ' + s.version + ' is not 1.25.0 or later')
if (!s.content || s.content.type !== 'root' || s.content.id !== 'root') fail('content is not the root widget')
;(function walk(w, asTab) {
    widgets.push(w)
    if (!types.includes(w.type)) fail(`${w.id}: unknown widget type ${w.type}`)
    if (!w.id || ids.has(w.id)) fail(`duplicate or missing id ${w.id}`)
    ids.add(w.id)
    if ((w.type === 'tab') !== asTab) fail(`${w.id}: tabs only in "tabs", and only tabs there`)
    if ((w.widgets || []).length && (w.tabs || []).length) fail(`${w.id}: both widgets and tabs`)
    for (const c of w.widgets || []) walk(c, false)
    for (const c of w.tabs || []) walk(c, true)
})(s.content, false)
// scripts compile; advanced syntax blocks compile and run with and without data
const scriptNames = ['value', 'id', 'touch', 'get', 'set', 'send', 'getProp', 'storage',
    'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'console', 'locals', 'globals']
function blocks(str, tag) {   // contents of TAG{...} with balanced braces
    const out = []
    for (let i = str.indexOf(tag + '{'); i >= 0; i = str.indexOf(tag + '{', i + 1)) {
        let depth = 0, j = i + tag.length
        for (; j < str.length; j++) {
            if (str[j] === '{') depth++
            else if (str[j] === '}' && --depth === 0) break
        }
        out.push(str.slice(i + tag.length + 1, j))
    }
    return out
}
let nBlocks = 0
for (const w of widgets) {
    for (const p of ['onValue', 'onCreate']) {
        if (w[p] === undefined) continue
        try { new Function(...scriptNames, w[p]) } catch (e) { fail(`${w.id}.${p}: ${e.message}`) }
    }
    for (const [p, val] of Object.entries(w)) {
        if (typeof val !== 'string' || p === 'onValue' || p === 'onCreate') continue
        const sub = val.replace(/@\{[^{}]*\}/g, 'V').replace(/OSC\{[^{}]*\}/g, 'V')
        for (const [tag, pre] of [['JS', ''], ['#', 'return ']]) {
            for (const code of blocks(sub, tag)) {
                nBlocks++
                for (const V of [undefined, '', 'alice', 3]) {
                    try { new Function('V', pre + code)(V) } catch (e) { fail(`${w.id}.${p} ${tag}{}: ${e.message}`) }
                }
            }
        }
    }
}
if (nBlocks < 10) fail(`only ${nBlocks} advanced syntax blocks found`)
// the per-browser mix choice: never sent, never synchronised, used by the strips
const mine = widgets.filter(w => /@\{my_mix\}/.test(w.address || ''))
const dd = widgets.find(w => w.id === 'my_mix')
if (!dd || dd.type !== 'dropdown') fail('no my_mix dropdown')
else {
    if (dd.bypass !== true) fail('my_mix must have bypass: true (else O-S-C sends and syncs it to every browser)')
    if (widgets.some(w => w !== dd && w.address === dd.address)) fail('another widget shares my_mix\'s address')
    if (!/send\('\/bandbridge\/mymix'/.test(dd.onValue || '')) fail('my_mix.onValue does not tell the module')
}
if (mine.length < 30) fail(`only ${mine.length} widgets follow @{my_mix}`)
// meters are display only
for (const w of widgets.filter(w => /^\/bandbridge\/meter\//.test(w.address || ''))) {
    if (w.type !== 'fader' || w.interaction !== false || w.bypass !== true) fail(`${w.id}: a meter must be a fader with interaction false, bypass true`)
}
// Properties per widget type, for the types this layout uses: our own table, written
// from the static defaults() of Open Stage Control 1.26-1.29 (repository
// jean-emmanuel/open-stage-control, src/client/widgets/: common/widget.js, containers/
// panel.js, tab.js, root.js, basics/button.js, dropdown.js, indicators/text.js,
// sliders/fader.js, knob.js; checked again in the 1.30 .mjs files). O-S-C's parser
// (src/client/parser.js) deletes any other property without a word, and a mistyped
// type becomes a fader.
const words = (str) => str.trim().split(/\s+/)
const minus = (list, drop) => list.filter(p => !words(drop).includes(p))
const base = words(`lock type id visible interaction comments left top width height expand
    colorText colorWidget colorStroke colorFill alphaStroke alphaFillOff alphaFillOn lineWidth
    borderRadius padding html css value default linkId address preArgs typeTags decimals
    target ignoreDefaults bypass onCreate onValue`)
const panel = base.concat(words(`variables traversing colorBg layout justify gridTemplate
    contain scroll innerPadding tabsPosition widgets tabs onTouch`))
const sliders = words('colorKnob pips dashed spring doubleTap range logScale sensitivity steps origin onTouch')
const known = {
    root: minus(panel, 'visible left top expand colorFill colorStroke alphaStroke alphaFillOff lineWidth')
        .concat('hideMenu', 'onPreload'),
    tab: minus(panel, 'left top width height expand colorStroke alphaStroke alphaFillOff alphaFillOn lineWidth')
        .concat('label'),
    panel,
    text: minus(base, 'typeTags ignoreDefaults').concat('vertical', 'wrap', 'align'),
    dropdown: base.concat('label', 'icon', 'align', 'values'),
    button: base.concat(words('colorTextOn label vertical wrap on off mode doubleTap decoupled')),
    fader: base.concat(sliders, words('design knobSize horizontal gradient snap touchZone')),
    knob: base.concat(sliders, words('design angle mode')),
}
// the forms of the values we use (same sources); a string with an advanced syntax
// block is resolved by O-S-C first and is not checked here
const advanced = (x) => typeof x === 'string' && /(#|@|OSC|JS|VAR)\{/.test(x)
const isBool = (x) => typeof x === 'boolean'
const isNum = (x) => typeof x === 'number' && isFinite(x)
const isSize = (x) => isNum(x) || x === 'auto' || /^[0-9.]+%$/.test(x)
const isColor = (x) => typeof x === 'string' && x !== ''
const oneOf = (...c) => (x) => c.includes(x)
function isRange(r) {   // {min, max, "N%"}: a number, or {label: number}
    if (!r || typeof r !== 'object' || Array.isArray(r) || !('min' in r) || !('max' in r)) return false
    return Object.entries(r).every(([k, v]) => (k === 'min' || k === 'max' || /^[0-9.]+%$/.test(k)) &&
        (isNum(v) || (v && typeof v === 'object' && Object.keys(v).length === 1 && isNum(Object.values(v)[0]))))
}
const forms = {
    visible: isBool, interaction: isBool, expand: isBool, bypass: isBool, innerPadding: isBool,
    horizontal: isBool, pips: isBool, doubleTap: (x) => isBool(x) || x === 'script' || /^\//.test(x),
    width: isSize, height: isSize, default: (x) => x !== undefined,
    colorText: isColor, colorWidget: isColor,
    address: (x) => typeof x === 'string' && x[0] === '/',
    typeTags: (x) => typeof x === 'string' && /^[ifsbhtdcrmTFNI]*$/.test(x),
    decimals: (x) => Number.isInteger(x) && x >= 0 && x <= 20,
    layout: oneOf('default', 'vertical', 'horizontal', 'grid'),
    range: isRange, origin: (x) => isNum(x) || x === 'auto',
    gradient: (x) => Array.isArray(x) ? x.every(isColor) : !!x && typeof x === 'object' &&
        Object.entries(x).every(([k, c]) => +k >= 0 && +k <= 1 && isColor(c)),
    wrap: oneOf(false, true, 'soft'),
    mode: (x, w) => (w.type === 'button' ? oneOf('toggle', 'push', 'momentary', 'tap')
        : oneOf('vertical', 'circular', 'snap', 'snap-alt'))(x),
    design: (x, w) => (w.type === 'fader' ? oneOf('default', 'round', 'compact')
        : oneOf('default', 'solid', 'line'))(x),
    align: (x, w) => (w.type === 'text' ? oneOf('center', 'left', 'right', 'top', 'bottom',
        'left top', 'left bottom', 'right top', 'right bottom') : oneOf('center', 'left', 'right'))(x),
    values: (x) => Array.isArray(x) || (!!x && typeof x === 'object'),
    label: (x) => typeof x === 'string' || x === false,
    on: () => true, off: () => true, comments: (x) => typeof x === 'string', css: (x) => typeof x === 'string',
}
for (const w of widgets) {
    if (!known[w.type]) { fail(`${w.id}: no property table for type ${w.type} (add one, from O-S-C's source)`); continue }
    for (const [p, x] of Object.entries(w)) {
        if (!known[w.type].includes(p)) fail(`${w.id}: ${w.type} has no property "${p}" (O-S-C would drop it)`)
        else if (forms[p] && !advanced(x) && !forms[p](x, w)) fail(`${w.id}: ${p} ${JSON.stringify(x)} is not of the form O-S-C expects`)
    }
    // a widget with no address of its own sends its value as /<id> (a panel its
    // scroll position, the root its tab): to the hub, and copied to every browser
    if (w.bypass !== true && !(typeof w.address === 'string' && w.address[0] === '/'))
        fail(`${w.id}: neither an address nor bypass: true (O-S-C would send /${w.id})`)
}
// widget scripts call only O-S-C's scripting functions (src/client/widgets/scripts/script-vm.js)
const oscFunctions = words(`set get getProp getIndex updateProp send httpGet stateGet stateSet
    setInterval clearInterval setTimeout clearTimeout setFocus unfocus setFocusable setScroll
    getScroll toolbar openUrl getVar setVar runAs reload updateCanvas getNavigator browseFile`)
const jsNames = words('Number String Boolean Array Object JSON Math parseInt parseFloat isNaN function if for while switch return catch typeof')
for (const w of widgets) {
    for (const p of ['onValue', 'onCreate']) {
        const code = (w[p] || '').replace(/'[^']*'|"[^"]*"/g, "''")
        for (const m of code.matchAll(/(^|[^.\w$])([A-Za-z_$][\w$]*)\s*\(/g)) {
            if (!oscFunctions.includes(m[2]) && !jsNames.includes(m[2])) fail(`${w.id}.${p}: ${m[2]}() is not an O-S-C scripting function`)
        }
        for (const m of code.matchAll(/\bstorage\.(\w+)/g)) {
            if (!['setItem', 'getItem', 'removeItem', 'clear'].includes(m[1])) fail(`${w.id}.${p}: storage.${m[1]} does not exist`)
        }
    }
}
if (errors.length) { console.log(errors.join('\n')); process.exit(1) }
console.log(`${widgets.length} widgets, ${nBlocks} advanced syntax blocks, ${mine.length} follow my_mix`)
EOF
    check "the session has the structure O-S-C 1.x loads, only properties it knows, in its forms, an address or bypass on every widget; its scripts and #{}/JS{} blocks compile and run; my_mix stays in its browser ($(node "$BB_TMP/session_check.js" "$SESSION" 2>&1 | tr '\n' ';'))" \
        node "$BB_TMP/session_check.js" "$SESSION"
    check "the custom module is valid JavaScript (node --check)" node --check "$MODULE"
fi

# ---------------------------------------------------------------------------
# A hub with OSC and three musicians (bbload: no JACK on their side, a tone each).
port=$(bb_free_udp_port)
osc=$(bb_free_udp_port)
bb_bg "$BB_TMP/hub.log" "${BB_RT[@]}" "$BB_BIN" serve --port "$port" --osc-port "$osc" \
    --db "$BB_TMP/hub.db" -v
hub=$BB_LASTPID
check "hub is up" bb_wait_port bandbridge:main_L
[[ -x $BUILD/bbload ]] || { not_ok "bbload is built ($BUILD/bbload)"; bb_done; }
bb_bg "$BB_TMP/load.log" "$BUILD/bbload" --hub "127.0.0.1:$port" --steady 3 --seconds 900 \
    --no-verify --signal tone
load=$BB_LASTPID
# ctl and q (lib.sh) talk to the hub on $osc.
three_slots() { [[ $(q /slots | wc -w) == 6 ]]; }
check "three musicians hold slots ($(bb_wait_for three_slots; ctl /slots 2>&1))" three_slots
read -r -a slotpairs <<<"$(q /slots)"
used=()
for (( k = 0; k < ${#slotpairs[@]}; k += 2 )); do used+=("${slotpairs[k]}"); done
(( ${#used[@]} == 3 )) || { not_ok "three slots in use (${used[*]})"; bb_done; }
is_used() { local u; for u in "${used[@]}"; do [[ $u == "$1" ]] && return 0; done; return 1; }
free=9
for (( k = 1; k <= 8; k++ )); do is_used "$k" || { free=$k; break; }; done
bb_log "slots in use: ${used[*]}; a free one: $free"

# ---------------------------------------------------------------------------
# (b) every address the layout uses answers on the hub
{
    grep -oE '"address": *"[^"]*"' "$SESSION" | sed -E 's/^"address": *"(.*)"$/\1/'
    grep -oE 'OSC\{[^,}]*' "$SESSION" | sed 's/^OSC{//'
    grep -oE "send\\('[^']*'" "$SESSION" | sed -E "s/^send\\('(.*)'$/\\1/"
} | sort -u >"$BB_TMP/addresses"
: >"$BB_TMP/hub_addresses"; : >"$BB_TMP/local_addresses"; : >"$BB_TMP/unknown_addresses"
: >"$BB_TMP/action_addresses"
while read -r a; do
    case $a in
    /bandbridge/*) echo "$a" >>"$BB_TMP/local_addresses" ;;
    /mix/* | /send/* | /slot/* | /click/* | /record) echo "$a" >>"$BB_TMP/hub_addresses" ;;
    /record/start | /record/stop) echo "$a" >>"$BB_TMP/action_addresses" ;; # not queried: they act
    *) echo "$a" >>"$BB_TMP/unknown_addresses" ;;
    esac
done <"$BB_TMP/addresses"
check "every address is the hub's (/mix /send /slot /click /record) or O-S-C's own (/bandbridge/): $(wc -l <"$BB_TMP/addresses") found" \
    test ! -s "$BB_TMP/unknown_addresses" -a -s "$BB_TMP/hub_addresses" -a -s "$BB_TMP/local_addresses"
# /record/start and /record/stop act (a query would start a take): they are
# checked against the hub's address table instead.
"$BB_BIN" serve --osc-doc >"$BB_TMP/osc-doc.txt"
check "the layout's actions are the hub's addresses ($(tr '\n' ' ' <"$BB_TMP/action_addresses"))" \
    bash -c "test -s '$BB_TMP/action_addresses' && while read -r a; do grep -q \"^\$a\\( \\|\$\\)\" '$BB_TMP/osc-doc.txt' || exit 1; done <'$BB_TMP/action_addresses'"
# Expand @{my_mix} for each slot in use; any other template is an error.
: >"$BB_TMP/expanded"
while read -r a; do
    if [[ $a == *'@{my_mix}'* ]]; then
        for m in "${used[@]}"; do echo "${a//@\{my_mix\}/$m}" >>"$BB_TMP/expanded"; done
    else
        echo "$a" >>"$BB_TMP/expanded"
    fi
done < <(cat "$BB_TMP/hub_addresses" "$BB_TMP/local_addresses")
sort -u -o "$BB_TMP/expanded" "$BB_TMP/expanded"
no_template_left() { ! grep -E '[@#]\{|VAR_|JS\{' "$BB_TMP/expanded"; }
check "no address keeps a template after expansion" no_template_left
# refers_free ADDRESS: the address names a slot nobody is in (a query would be refused).
refers_free() {
    local a=$1 n
    if [[ $a =~ ^/mix/([^/]+)/ch/([^/]+)/ ]]; then
        for n in "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"; do
            [[ $n =~ ^[0-9]+$ ]] && ! is_used "$n" && return 0
        done
    elif [[ $a =~ ^/send/([0-9]+)/ ]]; then
        is_used "${BASH_REMATCH[1]}" || return 0
    fi
    return 1
}
nq=0 nskip=0 nbad=0
: >"$BB_TMP/answers"
while read -r a; do
    [[ $a == /bandbridge/* ]] && continue
    if refers_free "$a"; then nskip=$((nskip + 1)); continue; fi
    nq=$((nq + 1))
    if ans=$(ctl "$a" 2>"$BB_TMP/q.err"); then
        printf '%s = %s\n' "$a" "$ans" >>"$BB_TMP/answers"
    else
        nbad=$((nbad + 1))
        printf '%s: NO ANSWER (%s)\n' "$a" "$(cat "$BB_TMP/q.err")" >>"$BB_TMP/answers"
    fi
done <"$BB_TMP/expanded"
grep 'NO ANSWER' "$BB_TMP/answers" | head -5 | sed 's/^/# /'
# 8 names; per slot in use as a mix, and for main: (slots in use + 2 inputs) x 3 parameters; a send each;
# the click's 7 settings and /record; the click's level in each mix in use
nu=${#used[@]}
expect=$(( 8 + (nu + 1) * (nu + 2) * 3 + nu + 8 + nu ))
check "all $nq hub addresses of the layout answer a query, none with /error ($nbad refused; $nskip name a free slot; $expect expected)" \
    test "$nbad" -eq 0 -a "$nq" -eq "$expect"
check "slot ${used[0]}'s name label gets the musician's name ($(grep "^/slot/${used[0]}/name = " "$BB_TMP/answers"))" \
    grep -qE "^/slot/${used[0]}/name = .+" "$BB_TMP/answers"
free_name_empty() { [[ $(q "/slot/$free/name") == '' ]]; }
check "a free slot's name label gets \"\" (the strip looks empty)" free_name_empty
check "the layout's fader of mix ${used[0]} reads the hub's value (0.75 = 0 dB)" \
    grep -qx "/mix/${used[0]}/ch/in_1/fader = 0.75" "$BB_TMP/answers"

# ---------------------------------------------------------------------------
# (c) the custom module in a harness that provides the O-S-C module API
if (( ! HAVE_NODE )); then
    bb_log "node is not installed (or BB_NO_NODE=1): the custom module was not run"
    bb_kill "$load"
    check "hub exits cleanly" bb_kill "$hub"
    bb_check_rt
    bb_done
fi
cat >"$BB_TMP/harness.js" <<'EOF'
// node harness.js MODULE HUB_OSC_PORT MY_PORT CMD_FILE: loads an O-S-C custom
// module as O-S-C 1.x does (vm context: app, send, receive, settings, timers),
// on a UDP socket bound to MY_PORT (O-S-C's --osc-port, which it also sends
// from). Logs, one line each:
//   in ADDRESS ARGS          what the hub sent (meters: the first per address)
//   client WHO ADDRESS ARGS  what reaches the browsers (WHO: * or a client id)
//   sent ADDRESS ARGS        what the module sent; tohub/dropped: widget messages
// Commands (one per line appended to CMD_FILE): open ID | close ID |
//   widget ID ADDRESS [f:1|i:1|s:x ...] | inject ADDRESS [i:1 ...] | quit
'use strict'
const dgram = require('dgram'), vm = require('vm'), fs = require('fs'), path = require('path')
const EventEmitter = require('events')
const [modulePath, hubPort, myPort, cmdFile] = process.argv.slice(2)
const log = (...a) => process.stdout.write(a.join(' ') + '\n')
const fmt = (v) => typeof v === 'number' ? String(Math.round(v * 1e6) / 1e6) : JSON.stringify(v)

const pad4 = (n) => (n + 3) & ~3
function encStr(s) { const b = Buffer.from(s + '\0'), o = Buffer.alloc(pad4(b.length)); b.copy(o); return o }
function encode(address, args) {
    let tags = ','
    const parts = []
    for (const a of args) {
        tags += a.type
        const b = Buffer.alloc(4)
        if (a.type === 'i') { b.writeInt32BE(a.value); parts.push(b) }
        else if (a.type === 'f') { b.writeFloatBE(a.value); parts.push(b) }
        else if (a.type === 's') parts.push(encStr(String(a.value)))
        else if (!'TFN'.includes(a.type)) throw new Error('cannot encode type ' + a.type)
    }
    return Buffer.concat([encStr(address), encStr(tags), ...parts])
}
function readStr(buf, o) { const e = buf.indexOf(0, o); return [buf.toString('utf8', o, e), pad4(e + 1)] }
function decode(buf, out) {
    if (buf.toString('latin1', 0, 8) === '#bundle\0') {
        for (let o = 16; o + 4 <= buf.length;) {
            const n = buf.readInt32BE(o)
            decode(buf.subarray(o + 4, o + 4 + n), out)
            o += 4 + n
        }
        return out
    }
    let [address, o] = readStr(buf, 0), tags = ','
    if (o < buf.length) [tags, o] = readStr(buf, o)
    const args = []
    for (const t of tags.slice(1)) {
        if (t === 'i') { args.push({type: t, value: buf.readInt32BE(o)}); o += 4 }
        else if (t === 'f') { args.push({type: t, value: buf.readFloatBE(o)}); o += 4 }
        else if (t === 'd') { args.push({type: t, value: buf.readDoubleBE(o)}); o += 8 }
        else if (t === 'h') { args.push({type: t, value: Number(buf.readBigInt64BE(o))}); o += 8 }
        else if (t === 's') { let v; [v, o] = readStr(buf, o); args.push({type: t, value: v}) }
        else if (t === 'T' || t === 'F') args.push({type: t, value: t === 'T'})
        else if (t === 'N') args.push({type: t, value: null})
        else throw new Error('cannot decode type ' + t)
    }
    out.push({address, args})
    return out
}
// O-S-C's server: plain numbers go out as f, strings as s, {type, value} as given.
function parseArg(a) {
    if (a !== null && typeof a === 'object' && a.type && a.type.length === 1) return a
    if (typeof a === 'number') return {type: 'f', value: a}
    if (typeof a === 'boolean') return {type: a ? 'T' : 'F', value: a}
    if (typeof a === 'string') return {type: 's', value: a}
    return {type: 's', value: JSON.stringify(a)}
}

const sock = dgram.createSocket('udp4')
function udpSend(host, port, address, args) {
    sock.send(encode(address, args), Number(port), host)
}
const app = new EventEmitter()
const settingsValues = {'send': ['127.0.0.1:' + hubPort], 'osc-port': Number(myPort), 'port': 8080}
const api = {
    app,
    send(host, port, address, ...args) {
        if (String(host).includes(':')) { args.unshift(address); address = port; [host, port] = host.split(':') }
        const a = args.map(parseArg)
        udpSend(host, port, address, a)
        log('sent', address, ...a.map(x => fmt(x.value)))
    },
    receive(host, port, address, ...args) {
        if (host[0] === '/') {
            if (address !== undefined) args.unshift(address)
            if (port !== undefined) args.unshift(port)
            address = host
        }
        let who = '*'
        const last = args[args.length - 1]
        if (last !== null && typeof last === 'object' && last.clientId !== undefined) { who = last.clientId; args.pop() }
        log('client', who, address, ...args.map(x => fmt(parseArg(x).value)))
    },
    settings: {read: (n) => settingsValues[n], appAddresses: () => ['http://127.0.0.1:8080']},
    console, setTimeout, clearTimeout, setInterval, clearInterval, process, global: {},
    loadJSON: () => undefined, saveJSON: () => undefined, require: () => ({}), nativeRequire: require,
}
const mod = {exports: null}
vm.runInContext(fs.readFileSync(modulePath, 'utf8'), vm.createContext({
    ...api, module: mod, __dirname: path.dirname(path.resolve(modulePath)), __filename: path.resolve(modulePath),
}), {filename: modulePath})
const m = mod.exports
// the hooks O-S-C calls (src/server/custom-module.js, osc/index.js); anything else is never called
const hooks = ['init', 'reload', 'stop', 'unload', 'oscInFilter', 'oscOutFilter']
log('exports', Object.keys(m).filter(k => !hooks.includes(k)).join(',') || 'only-hooks')

const seenMeter = new Set()
sock.on('message', (buf, rinfo) => {
    for (const msg of decode(buf, [])) {
        const vals = msg.args.map(x => fmt(x.value))
        if (!msg.address.startsWith('/meter/') || !seenMeter.has(msg.address)) log('in', msg.address, ...vals)
        if (msg.address.startsWith('/meter/')) seenMeter.add(msg.address)
        const data = m.oscInFilter ? m.oscInFilter({address: msg.address, args: msg.args, host: rinfo.address, port: rinfo.port}) : msg
        if (data) log('client', '*', data.address, ...data.args.map(x => fmt(x.value)))
    }
})

function command(line) {
    const w = line.trim().split(/\s+/)
    const client = {address: '127.0.0.1', id: w[1]}
    if (w[0] === 'open') app.emit('sessionOpened', {path: 'bandbridge.json'}, client)
    else if (w[0] === 'close') app.emit('close', {}, client)
    else if (w[0] === 'widget') {
        const args = w.slice(3).map((x) => {
            const t = x[0], v = x.slice(2)
            return {type: t, value: t === 's' ? v : Number(v)}
        })
        // as O-S-C's server calls it: once per --send target, the port a string (split from "host:port")
        const data = m.oscOutFilter({address: w[2], args, host: '127.0.0.1', port: String(hubPort), clientId: w[1]})
        if (!data) { log('dropped', w[2]); return }
        udpSend(data.host, data.port, data.address, data.args)
        log('tohub', data.address, ...data.args.map(x => fmt(x.value)))
    } else if (w[0] === 'inject') {
        // inject ADDRESS i:N ...: as if the hub had sent it (a /cookie: the hub
        // sends none to this machine, which is always verified)
        const args = w.slice(2).map((x) => ({type: x[0], value: x[0] === 's' ? x.slice(2) : Number(x.slice(2))}))
        log('in', w[1], ...args.map(x => fmt(x.value)))
        const data = m.oscInFilter({address: w[1], args, host: '127.0.0.1', port: Number(hubPort)})
        if (data) log('client', '*', data.address, ...data.args.map(x => fmt(x.value)))
    } else if (w[0] === 'quit') {
        if (m.stop) m.stop()
        setTimeout(() => process.exit(0), 200)
    }
}
let done = 0
setInterval(() => {
    let text = ''
    try { text = fs.readFileSync(cmdFile, 'utf8') } catch (e) { return }
    const lines = text.split('\n')
    for (; done < lines.length - 1; done++) command(lines[done])
}, 50)

sock.bind(Number(myPort), '0.0.0.0', () => { log('listening', myPort); if (m.init) m.init() })
EOF
hport=$(bb_free_udp_port)
CMD=$BB_TMP/harness.cmd
: >"$CMD"
cmd() { echo "$*" >>"$CMD"; }
H=$BB_TMP/harness.log
bb_bg "$H" node "$BB_TMP/harness.js" "$MODULE" "$osc" "$hport" "$CMD"
harness=$BB_LASTPID
# seen REGEX: a line of the harness log matches (ERE, from the start of the line).
seen() { grep -Eq -- "^$1" "$H"; }
count() { grep -Ec -- "^$1" "$H"; }
never() { ! grep -Eq -- "^$1" "$H"; }
check "the module loads and starts in the harness" bb_wait_for seen "listening $hport\$"
check "the module exports only hooks O-S-C calls (init, reload, stop, unload, oscInFilter, oscOutFilter)" \
    seen 'exports only-hooks$'
u1=${used[0]} u2=${used[1]} u3=${used[2]}

# Registration in slot form, acknowledged; the names reach the browsers.
check "the module sends /subscribe 10 <O-S-C's port> slots to the hub" seen "sent /subscribe 10 $hport \"slots\""
check "... and /meters/subscribe 10 <port> slots" seen "sent /meters/subscribe 10 $hport \"slots\""
check "the hub acknowledges the feedback lease on O-S-C's port" bb_wait_for seen 'in /subscribe 10$'
check "... and the meter lease" bb_wait_for seen 'in /meters/subscribe 10$'
check "the new lease brings slot $u1's name to the browsers" \
    bb_wait_for seen "client \\* /slot/$u1/name \"[^\"]+\"$"
check "... and a free slot's empty name (slot $free)" bb_wait_for seen "client \\* /slot/$free/name \"\"$"
check "at start the module fetches the main mix for the Engineer view" \
    bb_wait_for seen "client \\* /mix/main/ch/$u2/fader 0.75$"
check "... and the send levels" bb_wait_for seen "client \\* /send/$u3/fader 0.75$"
check "the module never queries a free slot (that would be an /error)" \
    never "sent /((mix/[^/]+/ch|send)/$free/|mix/$free/)"

# A browser picks a mix: queried at once, every strip, nothing sent to the hub as is.
check "no value of mix $u2 reached the browsers before anyone picks it" never "client \\* /mix/$u2/"
cmd widget tabletA /bandbridge/mymix "f:$u2"
check "the browser's choice stays in O-S-C (not sent to the hub)" bb_wait_for seen 'dropped /bandbridge/mymix$'
# A widget with no address of the hub (the root's tab, a panel's scroll) never reaches it.
cmd widget tabletA /root f:1
cmd widget tabletA /my_strips f:0 f:0.5
check "a tab change (/root) or a panel's scroll (/my_strips) is not sent to the hub" \
    bb_wait_for seen 'dropped /my_strips$'
check "... /root neither" seen 'dropped /root$'
all_strips() { # MIX: every strip of the layout got fader, mute and pan of that mix
    local s p
    for s in "${used[@]}" in_1 in_2; do
        for p in fader mute pan; do seen "client \\* /mix/$1/ch/$s/$p -?[0-9.]+$" || return 1; done
    done
}
check "picking mix $u2 fetches fader, mute and pan of all $(( nu + 2 )) strips of that mix" \
    bb_wait_for all_strips "$u2"
cmd widget tabletB /bandbridge/mymix "f:$u3"
check "another browser picking mix $u3 gets its own mix's values" bb_wait_for all_strips "$u3"
cmd open tabletC
check "a newly opened browser gets the musicians' names, to itself only" \
    bb_wait_for seen "client tabletC /slot/$u1/name \"[^\"]+\"$"
check "... and no other browser is sent them again" never 'client tablet[AB] '
check "... and the latencies, to itself only" bb_wait_for seen "client tabletC /bandbridge/latency/$u1 "


# A widget move goes to the hub; another controller's changes come back in slot form.
cmd widget tabletA "/mix/$u2/ch/in_1/fader" f:0.5
check "a fader move from a browser is passed to the hub" bb_wait_for seen "tohub /mix/$u2/ch/in_1/fader 0.5$"
check "... and fed back with its gain (-10 dB)" bb_wait_for seen "client \\* /mix/$u2/ch/in_1/gain -10$"
check "... and took effect on the hub" test "$(q "/mix/$u2/ch/in_1/gain")" = -10
ctl "/mix/main/ch/$u1/gain" -6
check "ctl /mix/main/ch/$u1/gain -6 from another controller reaches the browsers" \
    bb_wait_for seen "client \\* /mix/main/ch/$u1/gain -6$"
check "... with the Engineer fader's position (0.6)" bb_wait_for seen "client \\* /mix/main/ch/$u1/fader 0.6$"
name2=$(q "/slot/$u2/name")
name3=$(q "/slot/$u3/name")
ctl "/mix/$name2/ch/$name3/mute" 1
check "a mute set by musician names (/mix/$name2/ch/$name3/mute) comes back in slot form" \
    bb_wait_for seen "client \\* /mix/$u2/ch/$u3/mute 1$"
ctl "/send/$name3/gain" -4
check "a send level set by name comes back as /send/$u3/fader 0.65" \
    bb_wait_for seen "client \\* /send/$u3/fader 0.65$"

# Meters: converted for every meter widget of the layout (tone at -12 dBFS = 0.8).
meter_ok() { # ADDRESS LOW HIGH: a converted meter value within [LOW, HIGH] reached the browsers
    grep -E "^client \\* $1 " "$H" | awk -v lo="$2" -v hi="$3" '$4 >= lo && $4 <= hi { f = 1 } END { exit !f }'
}
main_meters_move() {
    meter_ok /bandbridge/meter/mix/main/L 0.3 1 && meter_ok /bandbridge/meter/mix/main/R 0.3 1
}
raw_meters() { seen "in /meter/ch/$u1 -?[0-9.]+ -?[0-9.]+$" && seen "in /meter/mix/main( -?[0-9.]+){4}$"; }
check "raw meters arrive in slot form (/meter/ch/$u1 peak rms, /meter/mix/main 4 levels)" bb_wait_for raw_meters
check "slot $u1's tone (-12 dBFS peak) shows as 0.8 on its meter" \
    bb_wait_for meter_ok "/bandbridge/meter/ch/$u1" 0.78 0.82
check "a silent local input shows 0" bb_wait_for meter_ok /bandbridge/meter/ch/in_1 0 0
check "the main mix's meters move (L and R)" bb_wait_for main_meters_move
missing=()
while read -r a; do
    [[ $a == /bandbridge/meter/* ]] || continue
    [[ $a =~ ^/bandbridge/meter/ch/([0-9]+)$ ]] && ! is_used "${BASH_REMATCH[1]}" && continue
    BB_WAIT=10 bb_wait_for seen "client \\* $a [0-9.]+$" || missing+=("$a")
done <"$BB_TMP/expanded"
nmeter=$(grep -c '^/bandbridge/meter/' "$BB_TMP/expanded")
check "every meter widget of the layout (of $nmeter, those of slots in use) gets values from the module (missing: ${missing[*]:-none})" \
    test "${#missing[@]}" -eq 0 -a "$nmeter" -gt 10
check "raw meter bundles never reach the browsers" never 'client [^ ]* /meter/'
# O-S-C keeps no value for a browser: a steady level is sent again (once a
# second), or a browser opened later would show 0.
steady_resent() { (( $(count "client \\* /bandbridge/meter/ch/$u1 0\\.8$") >= 3 )); }
check "slot $u1's steady level goes out again for browsers that open later ($(count "client \\* /bandbridge/meter/ch/$u1 0\\.8$") times so far)" \
    bb_wait_for steady_resent

# Latency: the module polls /status and shows each musician's /status/latency.
lat_re='"[0-9]+\.[0-9] ms\\nnet [0-9]+\.[0-9] ms"'
check "the module asks the hub for /status" bb_wait_for seen 'sent /status$'
check "slot $u1's latency (round trip, network RTT) reaches the browsers ($(grep -m1 "^client \\* /bandbridge/latency/$u1 " "$H"))" \
    bb_wait_for seen "client \\* /bandbridge/latency/$u1 $lat_re\$"
check "... and slot $u3's" bb_wait_for seen "client \\* /bandbridge/latency/$u3 $lat_re\$"
check "... a free slot's is empty" bb_wait_for seen "client \\* /bandbridge/latency/$free \"\"\$"
check "no /status answer reaches the browsers as it is" never 'client [^ ]* /status/'

# Errors are shown.
cmd widget tabletA "/mix/$u2/ch/$free/fader" f:0.5
check "a refused message shows in the layout's error line" \
    bb_wait_for seen "client \\* /bandbridge/error \"/mix/$u2/ch/$free/fader: no source of that name\"$"
check "... and as an O-S-C notification" bb_wait_for seen 'client \* /NOTIFY "exclamation-triangle" "bandbridge: '

# Leases are renewed: three acknowledgements (0, 5, 10 s), and feedback still flows past 10 s.
renewed() { (( $(count 'in /subscribe 10$') >= 3 && $(count 'in /meters/subscribe 10$') >= 3 )); }
wait_renewed() { BB_WAIT=30 bb_wait_for renewed; }
check "the module renews its leases every 5 s (third acknowledgement)" wait_renewed
ctl /mix/main/ch/in_2/pan -0.5
check "... and a change after 10 s still reaches the browsers" \
    bb_wait_for seen 'client \* /mix/main/ch/in_2/pan -0.5$'
no_expiry() { ! grep -q "127.0.0.1:$hport: .*lease expired" "$BB_TMP/hub.log"; }
check "the hub never ended the module's lease" no_expiry

# A fourth musician joins for a few seconds, then leaves.
bb_bg "$BB_TMP/load2.log" "$BUILD/bbload" --hub "127.0.0.1:$port" --steady 1 --seconds 4 \
    --no-verify --signal tone --name-prefix zz --seed 7
load2=$BB_LASTPID
four_slots() { [[ $(q /slots | wc -w) == 8 ]]; }
check "a fourth musician joins" bb_wait_for four_slots
read -r -a slotpairs <<<"$(q /slots)"
new= newname=
for (( k = 0; k < ${#slotpairs[@]}; k += 2 )); do
    is_used "${slotpairs[k]}" || { new=${slotpairs[k]}; newname=${slotpairs[k + 1]}; }
done
check "... the browsers get $newname on slot $new's label" \
    bb_wait_for seen "client \\* /slot/$new/name \"$newname\"$"
check "... the module fetches their strip in the main mix" bb_wait_for seen "client \\* /mix/main/ch/$new/fader 0.75$"
new_in_shown_mixes() {
    seen "client \\* /mix/$u2/ch/$new/mute 0$" && seen "client \\* /mix/$u3/ch/$new/pan 0$"
}
check "... and in the mixes the browsers show ($u2, $u3)" bb_wait_for new_in_shown_mixes
check "... and their own send level" bb_wait_for seen "client \\* /send/$new/fader 0.75$"
bb_wait_exit "$load2"
last_name_empty() { # the last name the browsers got for slot $new is ""
    grep -E "^client \\* /slot/$new/name " "$H" | tail -n 1 | grep -q ' ""$'
}
check "when they leave, slot $new's label empties again" bb_wait_for last_name_empty
last_is() { # ADDRESS VALUE: the last value the browsers got for ADDRESS
    grep -E "^client \\* $1 " "$H" | tail -n 1 | grep -qxF -- "client * $1 $2"
}
check "... their meter falls to 0 (the hub no longer sends it)" bb_wait_for last_is "/bandbridge/meter/ch/$new" 0
check "... and their latency empties" bb_wait_for last_is "/bandbridge/latency/$new" '""'
sleep 0.5 # the module's refresh after a leave comes 200 ms after it: a window, not a synchronisation
check "... and the module does not query the slot they left" \
    bash -c "! sed -n '/^in \\/left /,\$p' '$H' | grep -Eq '^sent /((mix/[^/]+/ch|send)/$new/|mix/$new/)'"
check "no /error so far but the one provoked" test "$(count 'client \* /bandbridge/error ')" -eq 1
check "the harness saw no JavaScript error" never '.*(Error|at .*\.js:[0-9]+)'
# A hub on another machine answers a subscription with /cookie first (see
# COOKIES in bandbridge-osc(7)); this one never does (same machine): inject it.
# Two at once (as both subscriptions bring one): the harness handles both
# in one turn, so nothing else can come between them in its log.
printf 'inject /cookie i:123456789\ninject /cookie i:123456789\n' >>"$CMD"
two_cookies() { [ "$(count 'sent /cookie 123456789 ')" -eq 2 ]; }
check "a /cookie from the hub is sent back with O-S-C's port" bb_wait_for seen "sent /cookie 123456789 $hport\$"
check "... each time" bb_wait_for two_cookies
# after_cookie N: the 2 lines that follow the Nth "in /cookie" (its echo, then what came next)
after_cookie() { awk -v n="$1" '/^in \/cookie 123456789$/ { k++; if (k == n) { getline; print; getline; print; exit } }' "$H"; }
resub_first() { [ "$(after_cookie 1 | tail -n1)" = "sent /subscribe 10 $hport \"slots\"" ]; }
no_resub_second() { ! after_cookie 2 | grep -q '^sent /subscribe '; }
check "... and the module subscribes again at once ($(after_cookie 1 | tr '\n' '|'))" resub_first
check "... but not again for the second, a moment later ($(after_cookie 2 | tr '\n' '|'))" no_resub_second
check "no /cookie reached the browsers" never 'client [^ ]* /cookie'

cmd quit
check "the module ends its leases when O-S-C stops (/unsubscribe)" bb_wait_for seen "sent /unsubscribe $hport\$"
bb_wait_exit "$harness"
rc=$?
(( rc == 124 )) && bb_kill "$harness"
check "the harness exits cleanly (status $rc)" test "$rc" -eq 0
bb_kill "$load"
check "hub exits cleanly" bb_kill "$hub"
bb_check_rt
bb_done
