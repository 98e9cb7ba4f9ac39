#!/usr/bin/env bash
# Installs playwright-core (from npm; it downloads no browser) into DIR for the browser test,
# once. The test drives Debian's /usr/bin/chromium.
# Usage: npm_install.sh DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$1
mkdir -p "$dir"
cp "$here/package.json" "$here/package-lock.json" "$dir/"
if [ ! -f "$dir/node_modules/playwright-core/package.json" ]; then
  cd "$dir"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error
fi
