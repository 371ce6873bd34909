// SPDX-License-Identifier: GPL-2.0-or-later
// tablet.js: the tablet layout in the real Open Stage Control, in Debian's
// Chromium driven by puppeteer-core, against a real hub (test/it_browser.sh
// starts all of them and passes what they are in the environment).
//
// Pages are driven as a person would (the mouse on faders and knobs, a tap on
// a mute, the dropdown, the tabs); the hub is asked with `bandbridge ctl`;
// what a page shows is read from O-S-C's widget objects (the value a fader,
// meter or text shows). Prints TAP lines ("ok N - ..." / "not ok N - ...")
// that it_browser.sh counts; exits 1 on an error it cannot go on from.
//
// Environment: OSC_URL (O-S-C's page), BB_BIN, HUB_OSC (the hub's OSC port),
// SLOTS ("1 alice 2 bob ..." as /slots answers, the steady musicians),
// LEAVER_SLOT and LEAVER_PID (a musician the test makes leave), SHOT (where
// to save a screenshot of the Engineer view), CHROMIUM (/usr/bin/chromium),
// PROFILE (Chromium's user data directory), LIMIT_S (the whole run, 600 s).
'use strict'
const puppeteer = require('puppeteer-core')
const {execFileSync} = require('child_process')

const env = (k) => {
    if (!process.env[k]) throw new Error('it_browser.sh sets ' + k)
    return process.env[k]
}
const URL = env('OSC_URL'), BIN = env('BB_BIN'), HUB_OSC = env('HUB_OSC')
const LEAVER = Number(env('LEAVER_SLOT')), LEAVER_PID = Number(env('LEAVER_PID'))
const pairs = env('SLOTS').trim().split(/\s+/)
const slots = [], names = {}
for (let i = 0; i + 1 < pairs.length; i += 2) {
    slots.push(Number(pairs[i]))
    names[pairs[i]] = pairs[i + 1]
}
const [u1, u2, u3] = slots
const LIMIT_S = Number(process.env.LIMIT_S || 600)

let n = 0, failed = 0
function check(desc, cond) {
    n++
    if (cond) console.log(`ok ${n} - ${desc}`)
    else { failed++; console.log(`not ok ${n} - ${desc}`) }
    return cond
}
const log = (m) => console.log('# ' + m)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// Polls fn (async or not) every 100 ms until it returns something truthy or
// the deadline passes (generous: two shared cores, a browser, O-S-C, a hub).
async function waitFor(fn, ms = 30000) {
    const end = Date.now() + ms
    for (;;) {
        let v
        try { v = await fn() } catch (e) { v = undefined }
        if (v) return v
        if (Date.now() > end) return v
        await sleep(100)
    }
}

// `bandbridge ctl` against the hub: the answer's text, '' when refused or silent.
function ctl(...args) {
    try {
        return execFileSync(BIN, ['ctl', '--port', HUB_OSC, '--timeout', '5', ...args.map(String)],
            {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']}).trim()
    } catch (e) {
        return ''
    }
}
const hubNum = (path) => Number(ctl(path))
const near = (a, b, tol) => typeof a === 'number' && typeof b === 'number' && Math.abs(a - b) <= tol

// ---- the page --------------------------------------------------------------

// Every widget object of the page, found from the root's (a hidden tab's
// widgets are not in the DOM, but their objects live and take values).
async function widgetValue(page, id) {
    return page.evaluate((id) => {
        const root = document.querySelector('.root-container')
        const stack = root && root._widget_instance ? [root._widget_instance] : []
        while (stack.length) {
            const w = stack.pop()
            if (!w) continue
            if (w.getProp('id') === id) return {v: w.getValue()}
            stack.push(...(w.children || []))
        }
        return null
    }, id).then((r) => (r ? r.v : undefined))
}

// The on-screen box of a widget of the shown tab (null when not shown).
async function box(page, id) {
    return page.evaluate((id) => {
        for (const e of document.querySelectorAll('.widget')) {
            const w = e._widget_instance
            if (!w || w.getProp('id') !== id) continue
            const r = e.getBoundingClientRect()
            if (r.width < 2 || r.height < 2) return null
            return {x: r.x, y: r.y, w: r.width, h: r.height}
        }
        return null
    }, id)
}

// A drag from the middle of a widget by dx, dy pixels, as a finger would.
async function drag(page, id, dx, dy) {
    const b = await waitFor(() => box(page, id), 5000)
    if (!b) throw new Error(id + ' is not on screen')
    const x = b.x + b.w / 2, y = b.y + b.h / 2
    await page.mouse.move(x, y)
    await page.mouse.down()
    await page.mouse.move(x + dx, y + dy, {steps: 12})
    await page.mouse.up()
}

async function tap(page, id) {
    const b = await waitFor(() => box(page, id), 5000)
    if (!b) throw new Error(id + ' is not on screen')
    await page.mouse.click(b.x + b.w / 2, b.y + b.h / 2)
}

// Two taps within O-S-C's double-tap time (375 ms).
async function doubleTap(page, id) {
    const b = await waitFor(() => box(page, id), 5000)
    const x = b.x + b.w / 2, y = b.y + b.h / 2
    await page.mouse.click(x, y)
    await sleep(60)
    await page.mouse.click(x, y)
}

// After a drag: the widget moved away from where it was, and the hub holds
// the value it shows (polled together: a loaded browser plays a drag's
// events back late).
async function dragged(page, id, path, from, tol) {
    let v, h
    const ok = await waitFor(async () => {
        v = await widgetValue(page, id)
        h = hubNum(path)
        return typeof v === 'number' && Math.abs(v - from) > 0.02 && near(h, v, tol)
    })
    return {v, hub: h, moved: typeof v === 'number' && Math.abs(v - from) > 0.02, ok}
}

async function showTab(page, label) {
    await page.evaluate((label) => {
        for (const d of document.querySelectorAll('.navigation div')) {
            if (d.textContent.trim() === label) {
                const r = d.getBoundingClientRect()
                window.__tabAt = {x: r.x + r.width / 2, y: r.y + r.height / 2}
                return
            }
        }
        window.__tabAt = null
    }, label)
    const at = await page.evaluate(() => window.__tabAt)
    if (!at) throw new Error('no tab ' + label)
    await page.mouse.click(at.x, at.y)
}

// The "My mix" dropdown, picked as a person does (the select's change).
async function pickMix(page, slot) {
    const sel = (await page.evaluateHandle(() => {
        for (const e of document.querySelectorAll('.widget')) {
            const w = e._widget_instance
            if (w && w.getProp('id') === 'my_mix') return e.querySelector('select')
        }
        return null
    })).asElement()
    await sel.select(String(slot - 1))
}

async function openPage(browser, what) {
    const ctx = await browser.createBrowserContext() // its own storage: another tablet
    const page = await ctx.newPage()
    await page.setViewport({width: 1280, height: 800})
    page.on('pageerror', (e) => log(`${what}: page error: ${e.message}`))
    page.on('error', (e) => log(`${what}: the page crashed: ${e.message}`))
    page.on('framenavigated', (f) => { if (f === page.mainFrame()) log(`${what}: at ${f.url()}`) })
    const t0 = Date.now()
    await page.goto(URL, {waitUntil: 'load', timeout: 240000})
    const named = await waitFor(async () => (await widgetValue(page, `my_s${u1}_name`)) === names[u1], 240000)
    log(`${what}: the layout loaded and named in ${Date.now() - t0} ms`)
    check(`${what} opens the layout and shows the musicians' names (slot ${u1}: ${names[u1]})`, named)
    return page
}

// ---- the test --------------------------------------------------------------

async function main() {
    const browser = await puppeteer.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        headless: true,
        userDataDir: env('PROFILE'), // it_browser.sh ends whatever still runs with it
        handleSIGTERM: false,
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync',
            '--window-size=1280,800'],
    })
    log('browser: ' + await browser.version())
    // Chromium runs in a process group of its own: end it with this script,
    // whatever the reason (a deadline, timeout(1)'s TERM).
    const end = (why) => {
        console.log(`not ok ${n + 1} - the browser test ran to its end (${why})`)
        try { process.kill(-browser.process().pid, 'SIGKILL') } catch (e) { /* gone */ }
        process.exit(1)
    }
    setTimeout(() => end(`still running after ${LIMIT_S} s`), LIMIT_S * 1000).unref()
    process.on('SIGTERM', () => end('stopped by SIGTERM'))
    try {
        await run(browser)
    } finally {
        await browser.close()
    }
}

async function run(browser) {
    // Values set at the hub before any browser: picking a mix must show them.
    ctl(`/mix/${u1}/ch/${u2}/gain`, -10)         // fader 0.5
    // Mixes u2 and u3 carry only u1's tone (a steady level): u2 at 0 dB, u3 at -6 dB.
    for (const m of [u2, u3]) {
        for (const s of slots.concat([LEAVER])) if (s !== u1) ctl(`/mix/${m}/ch/${s}/mute`, 1)
    }
    ctl(`/mix/${u3}/ch/${u1}/gain`, -6)

    const a = await openPage(browser, 'browser A')

    // ---- My mix: pick, drag, pan, mute ----
    await pickMix(a, u1)
    check(`picking mix ${u1} shows the hub's value of a strip (fader of ${u2} at -10 dB = 0.5)`,
        await waitFor(async () => near(await widgetValue(a, `my_s${u2}_fader`), 0.5, 0.001)))

    await drag(a, `my_s${u3}_fader`, 0, 90)
    let d = await dragged(a, `my_s${u3}_fader`, `/mix/${u1}/ch/${u3}/fader`, 0.75, 0.0015)
    check(`dragging the fader of ${u3} down in mix ${u1} moves it (0.75 -> ${d.v})`, d.moved && d.v < 0.75)
    check(`... and the hub's fader follows (/mix/${u1}/ch/${u3}/fader ${d.hub})`, d.ok)

    await drag(a, `my_s${u3}_pan`, 0, -15)
    d = await dragged(a, `my_s${u3}_pan`, `/mix/${u1}/ch/${u3}/pan`, 0, 0.006)
    check(`dragging the pan knob of ${u3} up turns it right (${d.v})`, d.moved && d.v > 0)
    check(`... and the hub's pan follows (${d.hub})`, d.ok)
    // A loaded browser can see two taps further apart than they were: tap again, as a person would.
    let centred = false
    for (let k = 0; k < 3 && !centred; k++) {
        await doubleTap(a, `my_s${u3}_pan`)
        centred = await waitFor(() => hubNum(`/mix/${u1}/ch/${u3}/pan`) === 0, 5000)
    }
    check(`a double tap on the pan knob centres it on the hub`, centred)

    await tap(a, `my_s${u3}_mute`)
    check(`tapping mute of ${u3} mutes it in mix ${u1} on the hub`,
        await waitFor(() => ctl(`/mix/${u1}/ch/${u3}/mute`) === '1'))
    await tap(a, `my_s${u3}_mute`)
    check(`... a second tap unmutes it`, await waitFor(() => ctl(`/mix/${u1}/ch/${u3}/mute`) === '0'))

    // ---- feedback: another OSC client changes the hub ----
    ctl(`/mix/${u1}/ch/in_1/gain`, -6)
    check(`ctl /mix/${u1}/ch/in_1/gain -6 from another controller moves the page's fader to 0.6`,
        await waitFor(async () => near(await widgetValue(a, 'my_in_1_fader'), 0.6, 0.001)))
    ctl(`/mix/${u1}/ch/${u2}/mute`, 1)
    check(`... and a mute set there lights the page's mute button`,
        await waitFor(async () => (await widgetValue(a, `my_s${u2}_mute`)) === 1))

    // ---- Engineer view ----
    await showTab(a, 'Engineer')
    await drag(a, `eng_s${u2}_fader`, 0, 70)
    d = await dragged(a, `eng_s${u2}_fader`, `/mix/main/ch/${u2}/fader`, 0.75, 0.0015)
    check(`Engineer: dragging the main-mix fader of ${u2} (${d.v}) sets /mix/main/ch/${u2}/fader (${d.hub})`,
        d.ok)
    await drag(a, `eng_s${u2}_send`, -25, 0) // a horizontal fader
    d = await dragged(a, `eng_s${u2}_send`, `/send/${u2}/fader`, 0.75, 0.0015)
    check(`Engineer: dragging the send level of ${u2} (${d.v}) sets /send/${u2}/fader (${d.hub})`,
        d.ok)
    await tap(a, `eng_s${u3}_mute`)
    check(`Engineer: tapping mute of ${u3} mutes it in the main mix`,
        await waitFor(() => ctl(`/mix/main/ch/${u3}/mute`) === '1'))
    ctl(`/mix/main/ch/${u1}/gain`, -6)
    check(`Engineer: a main-mix change from another controller shows (fader of ${u1} at 0.6)`,
        await waitFor(async () => near(await widgetValue(a, `eng_s${u1}_fader`), 0.6, 0.001)))

    // ---- latency ----
    const status = () => {
        const rows = {}
        for (const line of ctl('/status').split('\n')) {
            const w = line.trim().split(/\s+/)
            if (w[0] === '/status/latency') rows[w[1]] = {rtt: Number(w[3]), total: Number(w[8])}
        }
        return rows
    }
    const parse = (t) => {
        const m = /^([0-9]+\.[0-9]) ms\s+net ([0-9]+\.[0-9]) ms$/.exec(String(t || ''))
        return m ? {total: Number(m[1]), rtt: Number(m[2])} : null
    }
    const lat = await waitFor(async () => parse(await widgetValue(a, `eng_s${u1}_latency`)))
    check(`Engineer: the latency of ${u1} shows as "<round trip> ms / net <rtt> ms" (${JSON.stringify(await widgetValue(a, `eng_s${u1}_latency`))})`, lat)
    // The page shows a poll of up to 2 s ago and the estimate moves with the
    // jitter buffer's fill: page and hub polled together until they agree.
    let pg = null, st = null
    const agree = await waitFor(async () => {
        pg = parse(await widgetValue(a, `eng_s${u1}_latency`))
        st = status()[u1]
        return pg && st && pg.total > 0 && near(pg.total, st.total, Math.max(2, st.total * 0.1))
    })
    check(`... the round trip is the hub's /status/latency total (page ${pg && pg.total}, hub ${st && st.total} ms)`, agree)
    check(`... the network RTT is below the round trip and near the hub's (page ${pg && pg.rtt}, hub ${st && st.rtt} ms)`,
        pg && st && pg.rtt < pg.total && near(pg.rtt, st.rtt, 15))
    const all = await waitFor(async () => {
        for (const s of slots) if (!parse(await widgetValue(a, `eng_s${s}_latency`))) return false
        return true
    })
    check(`Engineer: every musician's latency shows (slots ${slots.join(', ')})`, all)
    const free = [1, 2, 3, 4, 5, 6, 7, 8].find((s) => !slots.includes(s) && s !== LEAVER)
    check(`Engineer: a free slot (${free}) shows no latency`, !(await widgetValue(a, `eng_s${free}_latency`)))
    check(`... the leaving musician's latency shows before they leave (slot ${LEAVER})`,
        await waitFor(async () => parse(await widgetValue(a, `eng_s${LEAVER}_latency`))))

    if (process.env.SHOT) {
        await sleep(300)
        await a.screenshot({path: process.env.SHOT})
        log('screenshot of the Engineer view: ' + process.env.SHOT)
    }

    // ---- meters, on a browser opened later ----
    check(`the steady tone of ${u1} (-12 dBFS) shows 0.8 on its meter`,
        await waitFor(async () => near(await widgetValue(a, `eng_s${u1}_meter`), 0.8, 0.015)))
    check(`the leaving musician's tone (slot ${LEAVER}) shows on its meter too`,
        await waitFor(async () => near(await widgetValue(a, `eng_s${LEAVER}_meter`), 0.8, 0.015)))
    // Every meter has been sent by now; browser A goes (one page at a time
    // keeps this within reach of a loaded machine), B comes.
    await a.browserContext().close()

    const b = await openPage(browser, 'browser B, opened later')
    const mb = await waitFor(async () => {
        const v = await widgetValue(b, `my_s${u1}_meter`)
        return near(v, 0.8, 0.015) ? v : 0
    }, 10000)
    check(`browser B, opened later, shows the steady level of ${u1} (0.8; got ${mb || await widgetValue(b, `my_s${u1}_meter`)})`, mb)
    await pickMix(b, u2)
    const ob = await waitFor(async () => {
        const v = await widgetValue(b, 'my_out_L')
        return near(v, 0.8, 0.015) ? v : 0
    }, 10000)
    check(`browser B picking mix ${u2} (only ${u1}'s tone) shows its steady level on the mix meter (0.8; got ${ob || await widgetValue(b, 'my_out_L')})`, ob)
    await pickMix(b, u3)
    const oc = await waitFor(async () => {
        const v = await widgetValue(b, 'my_out_L')
        return near(v, 0.7, 0.015) ? v : 0
    }, 10000)
    check(`... and then mix ${u3} (the tone at -6 dB) shows 0.7 (got ${oc || await widgetValue(b, 'my_out_L')})`, oc)
    check(`browser B has the shared Engineer values (fader of ${u1} in the main mix at 0.6)`,
        await waitFor(async () => near(await widgetValue(b, `eng_s${u1}_fader`), 0.6, 0.001)))
    check(`... and the latency column`, await waitFor(async () => parse(await widgetValue(b, `eng_s${u2}_latency`))))

    check(`browser B shows the level of the musician about to leave (slot ${LEAVER}: 0.8)`,
        await waitFor(async () => near(await widgetValue(b, `my_s${LEAVER}_meter`), 0.8, 0.015), 10000))

    // ---- a musician leaves ----
    process.kill(LEAVER_PID, 'SIGTERM')
    check(`musician ${LEAVER} leaves (the hub's slot empties)`,
        await waitFor(() => ctl(`/slot/${LEAVER}/name`) === '' && !ctl('/slots').split(/\s+/).includes(String(LEAVER))))
    const z = await waitFor(async () => (await widgetValue(b, `my_s${LEAVER}_meter`)) === 0, 10000)
    check(`the meter of the musician who left falls to 0 (shows ${await widgetValue(b, `my_s${LEAVER}_meter`)})`, z)
    check(`... on the Engineer view too`,
        await waitFor(async () => (await widgetValue(b, `eng_s${LEAVER}_meter`)) === 0, 10000))
    check(`... their name label empties`, await waitFor(async () => !(await widgetValue(b, `eng_s${LEAVER}_name`))))
    check(`... and their latency clears`, await waitFor(async () => !(await widgetValue(b, `eng_s${LEAVER}_latency`))))
    check(`a steady musician's meter still shows (${u1}: 0.8)`,
        near(await widgetValue(b, `eng_s${u1}_meter`), 0.8, 0.015))
}

main().then(() => {
    console.log(`# tablet.js: ${n - failed} passed, ${failed} failed`)
    process.exit(failed ? 1 : 0)
}, (e) => {
    console.log(`not ok ${n + 1} - the browser test ran to its end (${e && e.stack || e})`)
    process.exit(1)
})
