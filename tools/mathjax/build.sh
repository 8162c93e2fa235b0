#!/bin/sh
# Rebuild build/manuscript/data/math/mathjax-svg.js from the npm packages pinned in
# package.json / package-lock.json (to update MathJax: change its version there, run
# `npm install --package-lock-only --prefix tools/mathjax`, then this script, then the tests).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../../build/manuscript/data/math"
npm ci --prefix "$here" --no-audit --no-fund
"$here/node_modules/.bin/esbuild" "$here/entry.js" --bundle --minify --format=iife \
  --legal-comments=none --log-level=warning --outfile="$out/mathjax-svg.js"
cp "$here/node_modules/mathjax-full/LICENSE" "$out/LICENSE-mathjax.txt"
cp "$here/node_modules/mhchemparser/LICENSE.txt" "$out/LICENSE-mhchemparser.txt"
ls -l "$out/mathjax-svg.js"
