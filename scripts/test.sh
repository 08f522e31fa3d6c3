#!/usr/bin/env bash
# Runs every test: unit and property tests, the story tests against SQLite AND
# PostgreSQL, and the browser test in headless Chromium. Installs what the tests need
# first (Debian packages chromium, chromium-driver, fonts-noto-cjk; starts PostgreSQL).
# PostgreSQL unreachable = failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "$(id -u)" -eq 0 ]]; then
    scripts/install-test-deps.sh
elif command -v sudo >/dev/null 2>&1; then
    sudo -n scripts/install-test-deps.sh
else
    echo "test.sh: not root and no sudo; assuming chromium, chromedriver and PostgreSQL are present" >&2
fi

export DOUDI_TEST_PG_URL="${DOUDI_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
cargo test --workspace --all-targets --locked "$@"
cargo test --workspace --doc --locked
