#!/usr/bin/env bash
# The book, and part 1's and part 2's servers, in a real browser:
#   bash book/browser-check.sh [WORD [PAGE]]
# .ci/run runs it, after ./test.sh (which makes ./.venv, with Flask). It
# builds the book, part1 and part2, then has headless Chromium open every
# page of the book (no console error allowed), type WORD into the book's
# search box (default: start_response) and expect a hit that shows it, on a
# page whose path contains PAGE (default: part2/, the chapter that explains
# it), and open part 1's /hello and part 2's (serving flaskapp:app). It
# leaves screenshots of the part 1 chapter and of the performance chapter in
# target/browser-check/: look at them after changing the book's looks.
# It installs what it needs: Debian's chromium (with apt, as root), and the
# pinned websocket-client into its own venv, target/browser-check/venv.
set -euo pipefail
cd "$(dirname "$0")/.."
word=${1:-start_response}
page=${2:-part2/}
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
cargo build --quiet -p part1 -p part2
target="$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

"$out/venv/bin/python" book/browser_check.py \
  "$out/html" "$out" "$word" "$page" "$target/debug/part1" "$target/debug/part2"
