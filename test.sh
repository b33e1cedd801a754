#!/usr/bin/env bash
# The whole test suite, as README.md gives it: `./test.sh`.
# It puts the pinned Python frameworks into ./.venv (creating it the first
# time), then runs every test. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")"

# The venv must come from the same Python that part2 is built against:
# pyo3 builds against $VIRTUAL_ENV's python if one is active, else python3.
python=${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}
python=${python:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "test.sh: creating .venv with $("$python" --version)"
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  -r requirements.txt

cargo test --workspace "$@"

# The book: every listing, transcript and command in it must be real.
# It needs mdBook 0.5.4 exactly (a newer one may render differently).
if [ "$(mdbook --version 2>/dev/null)" != "mdbook v0.5.4" ]; then
  echo "test.sh: installing mdBook 0.5.4 to check the book: cargo compiles it" \
    "from source, about 5 minutes the first time (once only)" >&2
  cargo install mdbook --version 0.5.4 --locked
fi
bash book/check.sh
