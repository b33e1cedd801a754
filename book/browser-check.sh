#!/usr/bin/env bash
# The book and part 1 in a real browser:
#   bash book/browser-check.sh [WORD [PAGE]]
# .ci/run runs it. It builds the book and part 1, then has headless Chromium
# open every page of the book (no console error allowed), type WORD into the
# book's search box (default: start_response) and expect a hit that shows
# it, on a page whose path contains PAGE (default: any page), and open
# part 1's /hello. It leaves a screenshot of the part 1 chapter in
# target/browser-check/part1.png: look at it after changing the book's looks.
# It installs what it needs: Debian's chromium (with apt, as root), and the
# pinned websocket-client into its own venv, target/browser-check/venv.
set -euo pipefail
cd "$(dirname "$0")/.."
word=${1:-start_response}
page=${2:-}
out=target/browser-check

if ! command -v chromium >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
if [ ! -x "$out/venv/bin/python" ]; then
  python3 -m venv "$out/venv"
fi
"$out/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  websocket-client==1.9.2

rm -rf "$out/html"
mdbook build book --dest-dir "$PWD/$out/html"
cargo build --quiet -p part1
part1="$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/part1"

"$out/venv/bin/python" book/browser_check.py \
  "$out/html" "$out/part1.png" "$word" "$page" "$part1"
