#!/usr/bin/env bash
# Installs Debian's Chromium for the frontend's end-to-end tests (playwright-core drives
# /usr/bin/chromium; browser downloads are not possible here). Idempotent.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium fonts-liberation
