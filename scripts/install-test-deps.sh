#!/usr/bin/env bash
# Installs the system dependencies needed by the browser (WebDriver) tests and
# makes sure a local PostgreSQL cluster is running. Idempotent; run as root on
# Debian 12.
set -euo pipefail

if [[ ${EUID:-$(id -u)} -ne 0 ]]; then
    echo "install-test-deps.sh: must be run as root" >&2
    exit 1
fi

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing+=(fonts-noto-cjk)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)

if [[ ${#missing[@]} -gt 0 ]]; then
    echo "install-test-deps.sh: installing ${missing[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
else
    echo "install-test-deps.sh: chromium, chromedriver, fonts-noto-cjk and poppler-utils already installed"
fi

# schemathesis (PyPI) for the API fuzz test (tests/api_fuzz.rs)
SCHEMATHESIS_VERSION=4.32.5
if ! command -v schemathesis >/dev/null 2>&1 || [[ "$(schemathesis --version 2>/dev/null)" != *"$SCHEMATHESIS_VERSION"* ]]; then
    echo "install-test-deps.sh: installing schemathesis $SCHEMATHESIS_VERSION from PyPI"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "schemathesis==$SCHEMATHESIS_VERSION"
fi

# PostgreSQL
if pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
    echo "install-test-deps.sh: PostgreSQL already running"
else
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || [[ ! -d /etc/postgresql ]]; then
        echo "install-test-deps.sh: PostgreSQL is not installed (no pg_ctlcluster or /etc/postgresql)" >&2
        exit 1
    fi
    # shellcheck disable=SC2012
    pg_version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    if [[ -z "$pg_version" ]]; then
        echo "install-test-deps.sh: no cluster found under /etc/postgresql" >&2
        exit 1
    fi
    echo "install-test-deps.sh: starting PostgreSQL $pg_version/main"
    pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start || true
    for _ in $(seq 1 30); do
        if pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
            break
        fi
        sleep 1
    done
    if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
        echo "install-test-deps.sh: PostgreSQL did not become ready within 30 s" >&2
        exit 1
    fi
    echo "install-test-deps.sh: PostgreSQL is ready"
fi
