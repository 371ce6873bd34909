// SPDX-License-Identifier: GPL-2.0-or-later
// bandbridge.module.js: Open Stage Control custom module (1.26 or later; its
// reload() and stop() hooks are called from 1.27 on) for the bandbridge hub's
// OSC port (bandbridge-osc(7)); see README.md beside it.
//
// - registers O-S-C for the hub's feedback and meters in slot form and renews
//   both leases every 5 s (they last 10 s; O-S-C does not deliver what a module
//   sends from stop(), so when O-S-C stops the leases simply run out); when
//   O-S-C runs on another machine than the hub, the hub first answers with
//   /cookie i:N (it checks that O-S-C's port really receives, see COOKIES in
//   bandbridge-osc(7)): the module sends /cookie N <its port> back and
//   subscribes again;
// - turns the meter bundles (dBFS, 25 a second) into one 0..1 value per
//   meter widget, about 12 a second, holding the peak in between; O-S-C keeps
//   no value for a browser, so every value goes out again once a second and
//   when a browser opens or picks a mix (else a steady level would show 0
//   there), and a meter the hub stops sending (a musician left) falls to 0;
// - asks the hub for /status every 2 s and shows each musician's round trip
//   and network RTT (/status/latency) in the Engineer view;
// - remembers which mix each browser shows (the "My mix" dropdown tells it
//   with /bandbridge/mymix) and asks the hub for every strip's values of that
//   mix, so the faders jump to the truth; same for the main mix and the send
//   levels at start, on every join/leave and for every newly opened browser;
// - shows the hub's /error replies in the layout and as a notification;
// - sends the hub only what its widgets are for (/mix/..., /send/...): a
//   widget without an address of its own would send /<its id> (a panel its
//   scroll position, the root its tab), which the hub refuses.
//
// The hub is the first --send target of open-stage-control, or
// BANDBRIDGE_HUB=host:port; BANDBRIDGE_OSC_PASSWORD is sent with /auth when
// the hub has --osc-password. Messages under /bandbridge/ stay inside O-S-C.

var HUB = process.env.BANDBRIDGE_HUB || ''
var PASSWORD = process.env.BANDBRIDGE_OSC_PASSWORD || ''
var LEASE_S = 10, RENEW_MS = 5000
var SLOTS = 8                      // strips in the layout: slots 1..8 ...
var INPUTS = ['in_1', 'in_2']      // ... and the hub's local inputs
var PARAMS = ['fader', 'mute', 'pan']
var METER_MS = 80, METER_FLOOR_DB = -60
var METER_STALE_MS = 500           // 12 meter bundles missed: that source is gone
var METER_RESEND_MS = 1000         // every value to every browser again, this often
var LATENCY_MS = 2000              // /status polls

var hub = null, replyPort = 0
var names = {}          // slot number -> musician name, '' when free
var mixOf = {}          // O-S-C client id -> the mix its "My mix" view shows
// Meters, by widget address: held = loudest since the last flush, level =
// what the meter shows now, seenAt = when the hub last sent it (ms), sent =
// what every browser was last given (forgotten to send everything again).
var held = {}, level = {}, seenAt = {}, sent = {}, lastResendAt = 0
var latency = {}        // slot number -> its latency text, '' when free
var latencySlots = {}   // slots in the /status answer being received
var refreshTimer = null, lastError = '', lastErrorAt = 0
var refused = {}        // addresses not sent to the hub, warned about once
var lastCookieAt = 0    // when a /cookie last made us subscribe again

function int(v) { return {type: 'i', value: v} }

function split(t) {        // "host:port", as --send and BANDBRIDGE_HUB give it
    t = String(t)
    var i = t.lastIndexOf(':')
    return {host: t.slice(0, i), port: parseInt(t.slice(i + 1), 10)}
}

// O-S-C's default targets (--send), MIDI ones left out: widgets send to each.
function sendTargets() {
    return (settings.read('send') || []).filter(function (s) { return !/^midi:/.test(s) }).map(split)
}

function hubTarget() {
    if (HUB) return split(HUB)
    return sendTargets()[0] || null
}

// data (a widget's message, as oscOutFilter gets it) goes to target t.
function goesTo(data, t) {
    return !!t && String(data.host) === String(t.host) && String(data.port) === String(t.port)
}

function toHub(address) {
    if (!hub) return
    send.apply(null, [hub.host, hub.port].concat(Array.prototype.slice.call(arguments)))
}

function subscribe() {
    hub = hubTarget()
    if (!hub) {
        console.error('(bandbridge) no hub: start open-stage-control with --send HUB:PORT')
        return
    }
    if (PASSWORD) toHub('/auth', PASSWORD)
    toHub('/subscribe', int(LEASE_S), int(replyPort), 'slots')
    toHub('/meters/subscribe', int(LEASE_S), int(replyPort), 'slots')
}

// Sources that have a strip and exist on the hub now (an empty slot would be refused).
function sources() {
    var s = []
    for (var n = 1; n <= SLOTS; n++) if (names[n]) s.push(n)
    return s.concat(INPUTS)
}

// Queries (no argument): the hub answers each to O-S-C's port with the value,
// which reaches every widget showing that address.
function queryMix(mix) {
    sources().forEach(function (s) {
        PARAMS.forEach(function (p) { toHub('/mix/' + mix + '/ch/' + s + '/' + p) })
    })
}

function refresh() {
    refreshTimer = null
    var mixes = {main: true}
    for (var id in mixOf) if (names[mixOf[id]]) mixes[mixOf[id]] = true
    Object.keys(mixes).forEach(queryMix)
    for (var n = 1; n <= SLOTS; n++) if (names[n]) toHub('/send/' + n + '/fader')
}

// After a join the hub sends /clients before the new /slot/<n>/name: wait a little.
function refreshSoon() {
    if (!refreshTimer) refreshTimer = setTimeout(refresh, 200)
}

// dBFS to a meter position: -60 dB and below (silence: -120 or -inf) is 0, 0 dBFS is 1.
function dbToLevel(db) {
    if (!(db > METER_FLOOR_DB)) return 0
    return Math.min(1, (db - METER_FLOOR_DB) / -METER_FLOOR_DB)
}

function hold(address, db) {
    var v = dbToLevel(db)
    if (!(held[address] >= v)) held[address] = v
    seenAt[address] = Date.now()
}

// Every browser gets every meter again at the next flush: one that opened
// the session or picked a mix (its meters' addresses changed) shows 0 until
// a value differs from what was sent, which a steady level never does.
function resendMeters() {
    sent = {}
}

function flushMeters() {
    var a, now = Date.now()
    for (a in held) level[a] = Math.round(held[a] * 100) / 100
    held = {}
    // The hub leaves a source out of its bundles once it is gone (a musician
    // who left, every source when the hub stops): its meter falls to 0.
    for (a in level) if (now - seenAt[a] > METER_STALE_MS) level[a] = 0
    // Also once a second: a tablet that slept and reconnected gets no
    // sessionOpened, only values.
    if (now - lastResendAt >= METER_RESEND_MS) {
        lastResendAt = now
        resendMeters()
    }
    for (a in level) {
        if (level[a] !== sent[a]) { receive(a, level[a]); sent[a] = level[a] }
    }
}

// "/status/latency i:slot s:name f:rtt_ms i:period i:hub_period i:jbuf_fill
// i:codec_frames f:total_ms i:musician_jbuf" (bandbridge-osc(7)) as the
// Engineer view shows it.
function latencyText(v) {
    return Number(v[7]).toFixed(1) + ' ms\nnet ' + Number(v[2]).toFixed(1) + ' ms'
}

function showLatency(slot, text) {
    if (latency[slot] === text) return
    latency[slot] = text
    receive('/bandbridge/latency/' + slot, text)
}

function pollLatency() {
    latencySlots = {}
    toHub('/status')
}

function showError(address, reason) {
    var text = address + ': ' + reason, now = Date.now()
    console.error('(bandbridge) the hub refused ' + text)
    receive('/bandbridge/error', text)
    if (text !== lastError || now - lastErrorAt > 2000) {
        receive('/NOTIFY', 'exclamation-triangle', 'bandbridge: ' + text)
    }
    lastError = text
    lastErrorAt = now
}

function start() {
    replyPort = settings.read('osc-port') || settings.read('port') || 8080
    subscribe()
    setInterval(subscribe, RENEW_MS)
    setInterval(flushMeters, METER_MS)
    pollLatency()
    setInterval(pollLatency, LATENCY_MS)
}

// A browser opened the session: give it the musicians' names (the hub sent
// them before it was there) and the current values.
app.on('sessionOpened', function (data, client) {
    for (var n = 1; n <= SLOTS; n++) {
        if (names[n] !== undefined) receive('/slot/' + n + '/name', names[n], {clientId: client.id})
        if (latency[n]) receive('/bandbridge/latency/' + n, latency[n], {clientId: client.id})
    }
    resendMeters()
    refreshSoon()
})

app.on('close', function (data, client) {
    delete mixOf[client.id]
})

module.exports = {

    init: start,

    reload: start,

    // O-S-C 1.29 stops without delivering this (SIGINT or SIGTERM): the hub
    // ends the leases when they run out, 10 s later. Sent all the same for
    // an O-S-C that lets it through.
    stop: function () {
        toHub('/unsubscribe', int(replyPort))
    },

    oscInFilter: function (data) {
        var a = data.address, v = data.args.map(function (x) { return x.value }), m

        if ((m = /^\/meter\/ch\/([^/]+)$/.exec(a))) {
            hold('/bandbridge/meter/ch/' + m[1], v[0])
            return
        }
        if ((m = /^\/meter\/mix\/([^/]+)$/.exec(a))) {
            hold('/bandbridge/meter/mix/' + m[1] + '/L', v[0])
            hold('/bandbridge/meter/mix/' + m[1] + '/R', v[1])
            return
        }
        if ((m = /^\/slot\/([0-9]+)\/name$/.exec(a))) {
            names[m[1]] = v.length ? String(v[0]) : ''
            return data
        }
        if (a === '/clients') {           // a new lease, a join or a leave
            refreshSoon()
            return data
        }
        if (a === '/status/latency') {
            latencySlots[v[0]] = true
            showLatency(v[0], latencyText(v))
            return
        }
        if (a === '/status/end') {        // who was not in the answer has left
            for (var n = 1; n <= SLOTS; n++) if (!latencySlots[n]) showLatency(n, '')
            latencySlots = {}
            return
        }
        if (a.indexOf('/status/') === 0) return // /status/client, /status/load: the rest of /status is not for the layout
        if (a === '/error') {
            showError(v[0], v[1])
            return
        }
        if (a === '/cookie') {            // show the hub that this port receives
            toHub('/cookie', int(v[0]), int(replyPort))
            // Both subscriptions bring a cookie: subscribe again once for both,
            // and never in a loop if the hub keeps asking.
            var now = Date.now()
            if (now - lastCookieAt > 1000) {
                lastCookieAt = now
                subscribe()
            }
            return
        }
        if (a === '/subscribe' || a === '/meters/subscribe' || a === '/auth') return
        return data
    },

    // data: {address, args: [{type, value}], host, port, clientId}, once per
    // target of the widget (every --send target): return it to send it.
    oscOutFilter: function (data) {
        if (data.address === '/bandbridge/mymix') {
            // the dropdown's send() reaches here once per --send target: act once
            if (!goesTo(data, sendTargets()[0])) return
            var mix = data.args.length ? data.args[0].value : undefined
            if (mix === undefined || mix === null || mix === '') {
                delete mixOf[data.clientId]
            } else {
                mixOf[data.clientId] = mix
                if (names[mix] || mix === 'main') queryMix(mix)
                resendMeters()
            }
            return
        }
        if (/^\/bandbridge\//.test(data.address)) return   // inside O-S-C only
        if (goesTo(data, hub) && !/^\/(mix|send)\//.test(data.address)) {
            if (!refused[data.address]) {
                refused[data.address] = true
                console.error('(bandbridge) not sending ' + data.address + ' to the hub: ' +
                    'give that widget an address of the hub, or set its bypass to true')
            }
            return
        }
        return data
    }

}
