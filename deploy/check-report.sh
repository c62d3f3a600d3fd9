#!/usr/bin/env bash
# Renders a 'bilevel report' HTML file in headless Chromium and checks that every <img> loaded.
#
#   deploy/check-report.sh REPORT.html [SCREENSHOT.png]
#
# The report sets data-images-ok="true" on <body> once every image has loaded with naturalWidth > 0
# (see ReportHtml.IMAGE_CHECK_SCRIPT); this script dumps the DOM after the page's load event and looks
# for that marker, then takes a full-width screenshot (default: REPORT.png beside the report).
# Needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium), or $CHROMIUM.
# Exit codes: 0 all images loaded, 1 an image did not load or the page did not render, 2 usage / no Chromium.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 REPORT.html [SCREENSHOT.png]" >&2
    exit 2
fi
report="$1"
[ -f "$report" ] || { echo "check-report: no such file: $report" >&2; exit 2; }
chromium="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$chromium" ] || { echo "check-report: Chromium not found at $chromium (apt-get install -y chromium, or set CHROMIUM)" >&2; exit 2; }
abs="$(cd "$(dirname "$report")" && pwd)/$(basename "$report")"
shot="${2:-${abs%.html}.png}"

profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --user-data-dir="$profile" --virtual-time-budget=3000)

dom="$(timeout 120 "$chromium" "${flags[@]}" --dump-dom "file://$abs" 2>/dev/null)" || {
    echo "check-report: Chromium failed to render $report" >&2
    exit 1
}
body="$(printf '%s' "$dom" | grep -o '<body[^>]*>' | head -n 1)"
loaded="$(printf '%s' "$body" | sed -n 's/.*data-images-loaded="\([^"]*\)".*/\1/p')"
if ! printf '%s' "$body" | grep -q 'data-images-ok="true"'; then
    echo "check-report: not every image of $report loaded (${loaded:-the load marker was never set}; body: $body)" >&2
    exit 1
fi
timeout 120 "$chromium" "${flags[@]}" --window-size=1280,2400 --screenshot="$shot" "file://$abs" >/dev/null 2>&1 || {
    echo "check-report: Chromium failed to take a screenshot of $report" >&2
    exit 1
}
[ -s "$shot" ] || { echo "check-report: no screenshot written to $shot" >&2; exit 1; }
echo "report OK: $loaded images loaded in Chromium; screenshot $shot"
