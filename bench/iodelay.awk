# iodelay.awk: summarises jack_iodelay output (one line, key=value).
# Readings before lock-in (the first two) are dropped. lost = "below
# threshold" lines after the first reading: jack_iodelay lost its signal.
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
    printf "readings=%d mode=%d min=%.0f max=%.0f at_mode=%.1f lost=%d\n", n, mode, min, max, 100 * near / n, lost + 0
}
