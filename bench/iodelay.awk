# iodelay.awk: summarises jack_iodelay output (one line, key=value).
# Readings before lock-in (the first two) are dropped. lost = "below
# threshold" lines after the first reading: jack_iodelay lost its signal.
# windows / windows_at_mode: the readings cut into runs of 40 (about 10 s),
# and how many of those have the whole run's mode as their own mode: a
# latency that holds has it in every window, one that creeps up or jumps to
# another value for seconds does not.
/total roundtrip latency/ {
    n_all++
    if (n_all <= 2) next
    v = $1 + 0; r = int(v + 0.5)
    vals[n++] = v; hist[r]++
    if (n == 1 || v < min) min = v
    if (n == 1 || v > max) max = v
}
/below threshold/ { if (n_all > 0) lost++ }
END {
    if (n == 0) { printf "readings=0 mode=- min=- max=- at_mode=0 lost=%d\n", lost + 0; exit }
    best = -1
    for (r in hist) if (hist[r] > best) { best = hist[r]; mode = r }
    near = 0
    for (i = 0; i < n; i++) if (vals[i] - mode <= 2 && mode - vals[i] <= 2) near++
    W = 40; nw = 0; wok = 0
    for (w = 0; w * W < n; w++) {
        if (n - w * W < W / 2 && w > 0) break # a short tail joins no window
        delete wh
        for (i = w * W; i < n && i < (w + 1) * W; i++) wh[int(vals[i] + 0.5)]++
        wb = -1
        for (r in wh) if (wh[r] > wb) { wb = wh[r]; wm = r }
        nw++
        if (wm - mode <= 2 && mode - wm <= 2) wok++
    }
    printf "readings=%d mode=%d min=%.0f max=%.0f at_mode=%.1f lost=%d windows=%d windows_at_mode=%d\n", n, mode, min, max, 100 * near / n, lost + 0, nw, wok
}
