#!/usr/bin/env bash
# Draws dorm_bench's results (dorm_bench --tsv FILE) as an SVG bar chart: per backend and workload, the time of
# dorm, SOCI and libpqxx as a ratio to the raw driver (1 = as fast as the raw driver; lower is faster).
#   bash tests/bench/chart.sh results.tsv > performance.svg
# Needs only awk. The file's columns: backend, workload, dorm_ms, raw_ms, then the ratios dorm, SOCI, libpqxx
# (empty when not measured), then a note printed under the workload's name.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 results.tsv > chart.svg" >&2; exit 2; }
awk -F'\t' '
function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }
NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
$0 == "" { next }
{
    n++
    backend[n] = $col["backend"]; workload[n] = $col["workload"]; note[n] = $col["note"]
    for (s = 1; s <= 3; s++) {
        v = $col[side[s]]
        ratio[n, s] = v
        if (v != "" && v + 0 > most) most = v + 0
    }
}
BEGIN { side[1] = "dorm"; side[2] = "SOCI"; side[3] = "libpqxx"
        colour[1] = "#2b6cb0"; colour[2] = "#dd8a2e"; colour[3] = "#6b9e3c"; most = 1.5 }
END {
    label_w = 360; bar_w = 480; bar_h = 11; left = 20
    step = most <= 2 ? 0.25 : most <= 4 ? 0.5 : 1              # gridlines far enough apart for their labels
    top_axis = (int(most / step) + 1) * step                   # the axis ends at the next gridline above the largest
    scale = bar_w / top_axis
    # Layout: a heading per backend, then each workload as a row of its measured sides.
    y = 70
    for (i = 1; i <= n; i++) {
        if (backend[i] != backend[i - 1]) { heading_y[i] = y + 22; y += 34 }
        sides = 0
        for (s = 1; s <= 3; s++) if (ratio[i, s] != "") sides++
        lines = sides * (bar_h + 2); if (note[i] != "" && lines < 28) lines = 28   # the note goes under the name
        row_y[i] = y; y += lines + 10
    }
    height = y + 40; width = left + label_w + bar_w + 60
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n", width, height, width, height
    printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
    printf "<text x=\"%d\" y=\"24\" font-size=\"15\" font-weight=\"bold\">Time relative to the raw driver (1 = raw sqlite3 / libpq; lower is faster)</text>\n", left
    lx = left
    for (s = 1; s <= 3; s++) {
        printf "<rect x=\"%d\" y=\"38\" width=\"12\" height=\"12\" fill=\"%s\"/><text x=\"%d\" y=\"48\">%s</text>\n", lx, colour[s], lx + 16, side[s]
        lx += 90
    }
    x0 = left + label_w
    for (t = 0; t <= top_axis + 0.001; t += step) {
        x = x0 + t * scale
        printf "<line x1=\"%.1f\" y1=\"60\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" stroke-width=\"%s\"%s/>\n", x, x, y, \
            (t == 1 ? "#333" : "#ddd"), (t == 1 ? "1.5" : "1"), (t == 1 ? " stroke-dasharray=\"4 3\"" : "")
        printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">%.2f</text>\n", x, y + 16, t
    }
    for (i = 1; i <= n; i++) {
        if (i in heading_y)
            printf "<text x=\"%d\" y=\"%d\" font-size=\"14\" font-weight=\"bold\">%s</text>\n", left, heading_y[i], (backend[i] == "sqlite" ? "SQLite" : backend[i] == "postgresql" ? "PostgreSQL" : esc(backend[i]))
        printf "<text x=\"%d\" y=\"%d\">%s</text>\n", left, row_y[i] + bar_h, esc(workload[i])
        if (note[i] != "")
            printf "<text x=\"%d\" y=\"%d\" font-size=\"10\" fill=\"#555\">%s</text>\n", left + 12, row_y[i] + bar_h + 14, esc(note[i])
        by = row_y[i]
        for (s = 1; s <= 3; s++) {
            if (ratio[i, s] == "") continue
            w = ratio[i, s] * scale
            printf "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>", x0, by, w, bar_h, colour[s]
            printf "<text x=\"%.1f\" y=\"%d\" font-size=\"10\">%.2f</text>\n", x0 + w + 4, by + bar_h - 1, ratio[i, s]
            by += bar_h + 2
        }
    }
    printf "</svg>\n"
}' "$1"
