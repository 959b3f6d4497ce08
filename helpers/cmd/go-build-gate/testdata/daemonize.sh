#!/bin/sh
# A hostile service for the smoke tests: like a classic daemon it forks, calls setsid and forks again, so its
# grandchild runs in a new session and process group, ignoring SIGTERM. The grandchild's pid goes to $PIDFILE.
# Then it runs $SERVICE with the script's arguments (e.g. the example service) or, when SERVICE is unset, exits 3.
set -eu
setsid sh -c 'sh -c "trap \"\" TERM HUP; exec sleep 300" & echo $! >"$PIDFILE"' &
wait
[ -s "$PIDFILE" ] || { echo "daemonize: no grandchild pid" >&2; exit 4; }
echo "daemonized pid $(cat "$PIDFILE")"
if [ -n "${SERVICE:-}" ]; then
	exec "$SERVICE" "$@"
fi
echo "exiting after daemonizing" >&2
exit 3
