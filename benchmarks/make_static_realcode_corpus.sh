#!/usr/bin/env bash
# Rebuild the real-code corpus of bench_static_realcode.py outside the repo.
#
# Reads benchmarks/static_realcode_files.txt ("owner/name commit path" per line), clones each
# public repository once (blobless), and writes exactly the listed files at the listed commit
# under DEST/gh/<owner>+<name>/<path>. The public code is never copied into this repo.
#
# Usage: benchmarks/make_static_realcode_corpus.sh [DEST]   (default /tmp/realcode; needs git
# and network access to github.com)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="${1:-/tmp/realcode}"
clones="$dest/.clones"
mkdir -p "$clones"
while read -r repo commit path; do
  [ -z "$repo" ] && continue
  name="${repo/\//+}"
  if [ ! -d "$clones/$name" ]; then
    git clone --quiet --bare --filter=blob:none "https://github.com/$repo.git" "$clones/$name"
  fi
  mkdir -p "$dest/gh/$name/$(dirname "$path")"
  git --git-dir="$clones/$name" show "$commit:$path" > "$dest/gh/$name/$path"
done < "$here/static_realcode_files.txt"
echo "corpus written to $dest/gh ($(wc -l < "$here/static_realcode_files.txt") files)"
