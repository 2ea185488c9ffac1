#!/usr/bin/env bash
# Runs a command with the clock moved to another date, to prove that no test depends on the day
# it runs:   bash test/shifted-clock.sh 2028-02-29 npx vitest run
#            bash test/shifted-clock.sh +400d npm test      (400 days from today)
#
# libfaketime (Debian: apt-get install faketime) is preloaded with a relative offset, so the
# clock reads DATE at the current time of day and then moves at real speed; every process started
# from here (vitest's workers, the scorebridge processes the tests spawn) shares that one clock.
# Monotonic clocks are left alone (timers keep real time). redis-server cannot run under
# libfaketime: the test harness starts its servers (redis-server, sshd, Chromium) without it
# (test/harness/real-clock.mjs), so they keep the real clock, as a production Redis would.
set -euo pipefail
if [ $# -lt 2 ] || ! [[ $1 =~ ^([0-9]{4}-[0-9]{2}-[0-9]{2}|[+-][0-9]+d)$ ]]; then
  echo "usage: $0 YYYY-MM-DD|+DAYSd command [args…]" >&2
  exit 2
fi
when=$1
shift
lib=$(ls /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1 2>/dev/null | head -n 1 || true)
if [ -z "$lib" ]; then
  echo "$0: libfaketime is not installed (Debian: apt-get install faketime)" >&2
  exit 2
fi
now=$(date -u +%s)
if [[ $when =~ ^([+-])([0-9]+)d$ ]]; then
  offset=$((${BASH_REMATCH[1]}${BASH_REMATCH[2]} * 86400))
else
  offset=$(($(date -u -d "$when $(date -u -d "@$now" +%T)" +%s) - now))
fi
echo "shifted-clock: the clock reads $(date -u -d "@$((now + offset))" +%FT%TZ) (offset ${offset} s): $*" >&2
export LD_PRELOAD="$lib${LD_PRELOAD:+:$LD_PRELOAD}"
if [ "$offset" -ge 0 ]; then export FAKETIME="+${offset}s"; else export FAKETIME="${offset}s"; fi
export FAKETIME_DONT_FAKE_MONOTONIC=1
export FAKETIME_NO_CACHE=1
exec "$@"
