/**
 * StubHelper writes a stand-in helper script for runner tests: it records its argv and one env var
 * next to its result file, writes a result (unless STUB_NO_RESULT=1) and exits $STUB_EXIT; --version prints
 * "<name> version $STUB_VERSION" (default dev).
 */
class StubHelper {
    static final String SCRIPT = '''#!/bin/sh
if [ "$1" = --version ]; then echo "$(basename "$0") version ${STUB_VERSION:-dev}"; exit 0; fi
rf=''; prev=''
for a in "$@"; do if [ "$prev" = --result-file ]; then rf="$a"; fi; prev="$a"; done
d=$(dirname "$rf")
printf '%s\\n' "$@" > "$d/stub-args.txt"
printf '%s' "${STUB_SECRET:-}" > "$d/stub-secret.txt"
if [ "${STUB_NO_RESULT:-}" != 1 ]; then
  printf '{"helper":"%s","verb":"%s","status":"%s","exit_code":%s,"message":"%s","trace_id":"%s","items":[{"name":"one","status":"passed"}]}\\n' \\
    "$(basename "$0")" "$1" "${STUB_STATUS:-passed}" "${STUB_EXIT:-0}" "${STUB_MESSAGE:-ok}" "$RELEASE_TRACE_ID" > "$rf"
fi
exit "${STUB_EXIT:-0}"
'''

    /** Writes the stand-in as dir/name, executable, and returns it. */
    static File write(File dir, String name) {
        dir.mkdirs()
        File f = new File(dir, name)
        f.text = SCRIPT
        f.setExecutable(true)
        return f
    }
}
