#!/usr/bin/env bash
# Starts the demo system: installs the Chinese fonts used for printable PDFs when
# missing (Debian package fonts-noto-cjk), then builds and runs `doudi demo`.
# Extra arguments go to `doudi demo` (e.g. --households 100000 --listen 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then
    if [[ "$(id -u)" -eq 0 ]]; then
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fonts-noto-cjk
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n apt-get update && sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fonts-noto-cjk
    else
        echo "demo.sh: fonts-noto-cjk is missing; PDFs will show an error until it is installed" >&2
    fi
fi
exec cargo run --release -- demo "$@"
