#!/bin/sh
# A hostile service for the smoke tests: like a classic daemon it forks, calls setsid and forks again, so its
# grandchild runs in a new session and process group, ignoring SIGTERM. The grandchild's pid goes to $PIDFILE.
# Then it runs $SERVICE with the script's arguments (e.g. the example service) or, when SERVICE is unset, exits 3.
set -eu
setsid sh -c 'sh -c "trap \"\" TERM HUP; exec sleep 300" & echo $! >"$PIDFILE"' &
wait
[ -s "$PIDFILE" ] || { echo "daemonize: no grandchild pid" >&2; exit 4; }
pid=$(cat "$PIDFILE")
# $! is known as soon as the grandchild is forked, before it ignores SIGTERM and execs sleep: wait for the exec, so
# the gate always meets a sleep that ignores SIGTERM, however slowly a loaded machine schedules the grandchild.
i=0
until [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sleep ]; do
	i=$((i + 1))
	[ "$i" -lt 3000 ] || { echo "daemonize: grandchild $pid did not exec sleep within 30 s" >&2; exit 4; }
	sleep 0.01
done
echo "daemonized pid $pid"
if [ -n "${SERVICE:-}" ]; then
	exec "$SERVICE" "$@"
fi
echo "exiting after daemonizing" >&2
exit 3
