#!/usr/bin/env bash
# Checks that the book tells the truth: `bash book/check.sh` (./test.sh runs it).
#
# mdBook 0.5.4 itself exits 0 when an included file is missing (the raw
# include is left in the page) and shows an empty listing for a missing
# anchor, so this script checks what mdBook does not:
#   a. the book builds, and the build log has no ERROR or WARN;
#   b. every include names an existing file and, if it names an anchor, an
#      anchor that exists and is not empty (or lines that exist; a snapshot
#      shown from line 4 has insta's 3-line header);
#      each include has a caption naming its file;
#   c. no include is left unexpanded in the built HTML;
#   d. every `cargo run -p PACKAGE [--bin BINARY]` in the book and the README
#      names a real package and binary;
#   e. every page in book/src is listed in SUMMARY.md, and every relative
#      link and image points at a file that exists.
# It prints each problem it finds and exits 1 if there was any.
set -euo pipefail
cd "$(dirname "$0")/.."

src=book/src
failed=0
includes=0 commands=0 links=0
problem() {
  echo "book/check.sh: $*" >&2
  failed=1
}

want="mdbook v0.5.4"
if [ "$(mdbook --version 2>/dev/null)" != "$want" ]; then
  echo "book/check.sh: needs $want:" \
    "cargo install mdbook --version 0.5.4 --locked" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# a. Build into a scratch folder, and read the log.
if ! mdbook build book --dest-dir "$work/html" >"$work/log" 2>&1; then
  problem "mdbook build failed"
fi
if grep -E 'ERROR|WARN' "$work/log" >&2; then
  problem "the mdbook build log above has errors or warnings"
fi

# b. Includes. Each hit reads FILE:LINE:{{#include PATH[:ANCHOR|:LINES]}}
# (an include escaped as \{{# is text, which mdBook shows as it is).
has_anchor() { # FILE NAME: exit 0 if the anchor exists and holds a line
  awk -v name="$2" '
    $0 ~ "ANCHOR_END:[[:space:]]*" name "([^[:alnum:]_-]|$)" {
      if (inside) closed = 1
      inside = 0
      next
    }
    $0 ~ "ANCHOR:[[:space:]]*" name "([^[:alnum:]_-]|$)" {
      inside = 1
      next
    }
    inside && $0 !~ /ANCHOR(_END)?:/ && $0 ~ /[^[:space:]]/ { lines++ }
    END { exit !(closed && lines > 0) }
  ' "$1"
}
while IFS= read -r hit; do
  page=${hit%%:*}
  rest=${hit#*:}
  line=${rest%%:*}
  directive={{${rest#*\{\{}
  target=${directive#*include }
  target=${target%\}\}}
  path=${target%%:*}
  selector=${target#"$path"}
  selector=${selector#:}
  file=$(dirname "$page")/$path
  where="$page:$line: $directive"
  includes=$((includes + 1))
  if [ ! -s "$file" ]; then
    problem "$where: no such file (or it is empty)"
    continue
  fi
  if [[ $selector =~ ^([0-9]*)(:[0-9]*)?$ ]]; then
    first=${BASH_REMATCH[1]:-1}
    if [ "$(wc -l <"$file")" -lt "$first" ]; then
      problem "$where: the file has fewer than $first lines"
    fi
    # A snapshot shown from line 4 must have insta's 3-line header, or the
    # page silently gains or loses a line of the transcript. (insta adds an
    # `assertion_line:` to a new snapshot: delete it when you accept one.)
    if [[ $file == *.snap && $first == 4 ]] &&
      [ "$(sed -n '1p;3p' "$file" | tr -d '\n')" != "------" ]; then
      problem "$where: its header is not 3 lines (an assertion_line?)"
    fi
  elif ! has_anchor "$file" "$selector"; then
    problem "$where: no anchor '$selector', or it is empty"
  fi
  # The caption, in the few lines above, names the file from the repo root.
  shown=$(realpath -m --relative-to=. "$file")
  if ! head -n "$((line - 1))" "$page" | tail -n 6 |
    grep 'listing-caption' | grep -qF "$shown"; then
    problem "$where: no listing-caption naming $shown above it"
  fi
done < <(grep -rnoE --include='*.md' \
  '(^|[^\\])\{\{#(include|rustdoc_include) [^}]+\}\}' "$src")

# c. Nothing left unexpanded in the pages.
if [ -d "$work/html" ] &&
  grep -rlF --include='*.html' '{{#' "$work/html" >"$work/raw"; then
  problem "unexpanded {{# in: $(tr '\n' ' ' <"$work/raw")"
fi

# d. cargo run commands. Lines of `cargo metadata` become "PACKAGE BINARY",
# and "PACKAGE (default)" for a package that names the one `cargo run` runs.
cargo metadata --no-deps --format-version 1 --offline 2>/dev/null |
  python3 -c '
import json, sys
for package in json.load(sys.stdin)["packages"]:
    for target in package["targets"]:
        if "bin" in target["kind"]:
            print(package["name"], target["name"])
    if package.get("default_run"):
        print(package["name"], "(default)")
' >"$work/bins" || problem "cargo metadata failed"
while IFS= read -r hit; do
  command=${hit#*:*:}
  read -r -a words <<<"$command"
  package="" bin=""
  for ((i = 2; i < ${#words[@]}; i++)); do
    case ${words[i]} in
      -p | --package) package=${words[i + 1]:-} ;;
      --bin) bin=${words[i + 1]:-} ;;
      --) break ;;
    esac
  done
  where="${hit%%:*}: $command"
  commands=$((commands + 1))
  if [ -z "$package" ]; then
    problem "$where: names no package (-p)"
  elif ! grep -q "^$package " "$work/bins"; then
    problem "$where: no package $package with a binary in the workspace"
  elif [ -n "$bin" ]; then
    grep -qx "$package $bin" "$work/bins" ||
      problem "$where: package $package has no binary $bin"
  elif [ "$(grep -c "^$package " "$work/bins")" -ne 1 ] &&
    ! grep -qx "$package (default)" "$work/bins"; then
    problem "$where: package $package does not have exactly one binary"
  fi
done < <(grep -rnoE --include='*.md' 'cargo run[^`]*' "$src" README.md)

# d2. No merge left its conflict markers in a page.
if grep -rnE '^(<<<<<<<|>>>>>>>)( |$)|^=======$' "$src" README.md >&2; then
  problem "the lines above are a merge's conflict markers"
fi

# e. Every page is in the table of contents, every relative link resolves.
while IFS= read -r page; do
  listed=${page#"$src"/}
  [ "$listed" = SUMMARY.md ] && continue
  grep -qF "]($listed)" "$src/SUMMARY.md" ||
    problem "$page is not listed in $src/SUMMARY.md"
done < <(find "$src" -name '*.md' | sort)
while IFS= read -r hit; do
  page=${hit%%:*}
  link=${hit#*:}
  link=${link#*(}
  link=${link#*src=\"}
  link=${link%[)\"]}
  fragment=
  case $link in *'#'*) fragment=${link#*#} ;; esac
  link=${link%%#*}
  case $link in http:* | https:* | mailto:*) continue ;; esac
  # A fragment alone (`#heading`) points into the page itself.
  [ -z "$link" ] && [ -z "$fragment" ] && continue
  links=$((links + 1))
  if [ -n "$link" ] && [ ! -e "$(dirname "$page")/$link" ]; then
    problem "$page: link to $link, which does not exist"
    continue
  fi
  # The heading a fragment names must exist: mdBook gives each an id.
  if [ -n "$fragment" ]; then
    target=${link:-$(basename "$page")}
    html="$work/html/$(dirname "${page#"$src"/}")/${target%.md}.html"
    grep -q "id=\"$fragment\"" "$html" 2>/dev/null ||
      problem "$page: link to $target#$fragment, a heading that does not exist"
  fi
done < <(grep -roE --include='*.md' '\]\([^) ]+\)|src="[^"]+"' "$src")

if [ "$failed" -ne 0 ]; then
  echo "book/check.sh: FAILED" >&2
  exit 1
fi
echo "book/check.sh: the book builds; its $includes includes," \
  "$commands cargo run commands and $links links are real"
