#!/usr/bin/env bash
# Browser tests drive Debian's Chromium (Playwright cannot download browsers here) and need a
# CJK font so that screenshots show Chinese text rather than empty boxes.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
fc-list 2>/dev/null | grep -qiE 'wenquanyi|noto sans cjk|droid sans fallback' || need+=(fonts-wqy-microhei)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "civicgrid: browser tests need the Debian packages: ${need[*]}" >&2
  echo "           install them as root: apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "civicgrid: installing ${need[*]} for the browser tests" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q "${need[@]}" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
