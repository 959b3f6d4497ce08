package io.releasegates

import com.cloudbees.groovy.cps.NonCPS
import groovy.json.JsonOutput

/**
 * HelperRunner runs one release-gates Go helper from a step: it finds (or downloads and verifies) the
 * helper, writes the params JSON, runs one labelled sh with only quoted non-secret arguments, reads the
 * result file and maps the exit code to error "<step>: ...".
 */
class HelperRunner implements Serializable {
    private static final long serialVersionUID = 1L

    /** Options run accepts; a null default means "not given". */
    static final Map RUN_DEFAULTS = [
        step        : null,  // the calling step's name, used in labels and errors
        helper      : null,  // helper binary name, e.g. 'go-build-gate'
        verb        : null,  // helper verb; 'blob sign' for subcommands
        args        : [],    // further non-secret flags and values, each quoted; [env: 'NAME'] passes "$NAME"
        positional  : [],    // positional arguments (files, images), after the flags and a '--' (urfave/cli stops at the first)
        params      : null,  // Map written as JSON to a params file and passed as --params
        resultFile  : null,  // default .release-gates/<step>-<verb>.json
        label       : null,  // sh label; default '<step>: <verb>'
        credentials : [],    // withCredentials bindings; secrets reach the helper only as env vars or files
        env         : [],    // extra non-secret 'K=V' entries for withEnv (secrets go in credentials)
        allowFailure: false, // true: return the result map for any exit code with a result file; see check()
    ]

    /** Exit codes of the helper contract. */
    static final int PASSED = 0, REJECTED = 1, BAD_INPUT = 2, UNAVAILABLE = 3, HELPER_BUG = 4

    /** Runs the helper as described by opts (see RUN_DEFAULTS) and returns its result map, with exit_code set. */
    static Map run(Object script, Map opts) {
        Map o = StepConfig.resolve(script, 'HelperRunner.run', RUN_DEFAULTS, opts, ['step', 'helper', 'verb'],
            [step: String, helper: String, verb: String, params: Map, resultFile: String, label: String])
        String step = o.step
        String helper = o.helper
        String resultFile = o.resultFile ?: defaultResultFile(step, o.verb)
        String traceId = traceId(script)
        String path = locate(script, step, helper)

        String paramsFile = null
        if (o.params != null) {
            paramsFile = siblingPath(resultFile, '.params.json')
            script.writeFile(file: paramsFile, text: toJson(o.params), encoding: 'UTF-8')
        }
        String command = commandLine(path, o.verb, o.args, paramsFile, resultFile, o.positional)
        List envList = ["RELEASE_TRACE_ID=${traceId}".toString()]
        for (Object e : o.env) {
            envList.add(e.toString())
        }
        String label = o.label ?: "${step}: ${o.verb}".toString()
        int status = 0
        script.withEnv(envList) {
            if (o.credentials) {
                script.withCredentials(o.credentials) {
                    status = script.sh(label: label, script: command, returnStatus: true) as int
                }
            } else {
                status = script.sh(label: label, script: command, returnStatus: true) as int
            }
        }

        Map result = readResult(script, resultFile)
        if (result == null) {
            script.error(failureMessage(step, helper, status, null))
        }
        result.exit_code = status
        if (!o.allowFailure) {
            check(script, step, result)
        }
        return result
    }

    /** Fails the build with the mapped error unless result (from run with allowFailure) passed. */
    static void check(Object script, String step, Map result) {
        String msg = failureMessage(step, (String) result?.helper, (result?.exit_code ?: 0) as int, result)
        if (msg != null) {
            script.error(msg)
        }
    }

    /** Returns the build's trace id, creating RELEASE_TRACE_ID in env when missing. */
    static String traceId(Object script) {
        String id = script.env.RELEASE_TRACE_ID
        if (!id) {
            id = newTraceId()
            script.env.RELEASE_TRACE_ID = id
        }
        return id
    }

    /** Returns the path of helper on this agent, downloading and verifying it when needed. */
    static String locate(Object script, String step, String helper) {
        Map lock = readLock(script, step)
        String version = lock.version
        String out = script.sh(label: "${step}: locate ${helper}".toString(), returnStdout: true,
            script: locateScript(helper, version, pins(lock, helper))).toString().trim()
        List notes = locateNotes(step, version, out)
        for (int i = 0; i < notes.size(); i++) {
            script.echo(notes[i])
        }
        List f = lastLineWords(out)
        if (f[0] == 'found') {
            return f[1]
        }
        if (f[0] == 'missing-dir') {
            script.error("${step}: helper ${helper} not found or not executable in RELEASE_GATES_HELPER_DIR=${f[1]}: " +
                "build it there (make helpers) or unset RELEASE_GATES_HELPER_DIR")
        }
        if (f[0] != 'download') {
            script.error("${step}: could not locate helper ${helper} (locate said: ${out})")
        }
        String platform = f[1]
        String dest = f[2]
        String problem = lockProblem(step, helper, lock, platform)
        if (problem) {
            script.error(problem)
        }
        String want = lock.helpers[helper][platform].sha256
        String publicKey = releaseKey(script, step, helper)
        String dl = script.sh(label: "${step}: download ${helper} ${version}".toString(), returnStdout: true,
            script: downloadScript(helper, version, platform, (String) lock.baseUrl, want, dest, publicKey)).toString().trim()
        String failure = downloadFailure(step, helper, version, platform, want, dl)
        if (failure != null) {
            script.error(failure)
        }
        return dest
    }

    /** Returns the release signing public key (resources/release-signing.pub) that SHA256SUMS must verify with. */
    static String releaseKey(Object script, String step, String helper) {
        String pem = null
        try {
            pem = script.libraryResource('release-signing.pub')
        } catch (hudson.AbortException ignored) { // libraryResource's "No such library resource"; aborts and sandbox rejections pass
            pem = null
        }
        if (!isPublicKeyPem(pem)) {
            script.error("${step}: helper ${helper} is not on this agent and resources/release-signing.pub holds no PEM public key, " +
                "so a download cannot be verified: install the helper on the agent's PATH or set RELEASE_GATES_HELPER_DIR")
        }
        return pem.trim() + '\n'
    }

    /** Reports whether pem is one PEM public key block (and nothing a shell here-document could misread). */
    @NonCPS
    static boolean isPublicKeyPem(String pem) {
        return pem != null && pem.trim() ==~ /-----BEGIN PUBLIC KEY-----\r?\n[A-Za-z0-9+\/=\r\n]+-----END PUBLIC KEY-----/
    }

    /** Returns helper's sha256 pins by platform from the lock, only those that are 64 lowercase hex digits. */
    @NonCPS
    static Map pins(Map lock, String helper) {
        Map out = new TreeMap()
        Object builds = lock.helpers[helper]
        if (builds instanceof Map) {
            for (Map.Entry e : ((Map) builds).entrySet()) {
                Object sha = e.value instanceof Map ? ((Map) e.value).sha256 : null
                if (e.key.toString() ==~ /[a-z0-9]+\/[a-z0-9]+/ && sha?.toString() ==~ /[0-9a-f]{64}/) {
                    out.put(e.key.toString(), sha.toString())
                }
            }
        }
        return out
    }

    /** Returns console lines explaining the locate script's skips (a helper on PATH of another version, a stale cache). */
    @NonCPS
    static List locateNotes(String step, String version, String out) {
        List notes = []
        for (String line : out.readLines()) {
            List w = line.split(' ', 3) as List
            if (w[0] == 'path-version' && w.size() == 3) {
                notes.add("${step}: not using ${w[2]} from PATH: it reports version ${w[1]}, helpers.lock pins ${version}".toString())
            } else if (w[0] == 'stale-cache' && w.size() == 3) {
                notes.add("${step}: cached ${w[2]} has sha256 ${w[1]}, not the one helpers.lock pins: downloading it again".toString())
            }
        }
        return notes
    }

    /** Returns the error for the download script's last line, or null when it printed "ok URL". */
    @NonCPS
    static String downloadFailure(String step, String helper, String version, String platform, String want, String out) {
        List d = lastLineWords(out)
        switch (d[0]) {
            case 'ok':
                return null
            case 'mismatch':
                return "${step}: refusing to run ${helper} ${version} downloaded from ${d[2]}: sha256 mismatch, " +
                    "expected ${want} (helpers.lock), got ${d[1]}".toString()
            case 'sums-mismatch':
                return "${step}: refusing to download ${helper} ${version}: the signed ${d[2]} lists sha256 ${d[1]} for " +
                    "${helper}-${platform.replace('/', '-')}, expected ${want} (helpers.lock)".toString()
            case 'badsig':
                List b = d[2].split(' ', 3) as List // SUMS sha256, release key sha256 (DER), signature URL
                return "${step}: refusing to download ${helper} ${version}: the signature ${b[2]} does not verify SHA256SUMS " +
                    "(sha256 ${b[0]}) with the release key (resources/release-signing.pub, sha256 ${b[1]}): the mirror serves " +
                    "files the release did not sign; that SHA256SUMS lists sha256 ${d[1]} for ${helper}-${platform.replace('/', '-')}, " +
                    "helpers.lock expects ${want}".toString()
            default:
                return "${step}: downloading ${helper} ${version} for ${platform} failed (${out.readLines() ? out.readLines().last() : out}): " +
                    "set RELEASE_GATES_HELPER_URL to a reachable mirror or install the helper on the agent's PATH".toString()
        }
    }

    /** Reads and parses resources/helpers.lock. */
    static Map readLock(Object script, String step) {
        String text = script.libraryResource('helpers.lock')
        // The lock is the library's own resource: JSON that does not parse fails in readJSON, naming the error.
        Object v = text?.trim()?.startsWith('{') ? script.readJSON(text: text, returnPojo: true) : null
        Map lock = v instanceof Map ? (Map) v : null
        if (lock == null || !(lock.version instanceof String) || !(lock.helpers instanceof Map)) {
            script.error("${step}: resources/helpers.lock is not valid: it needs \"version\", \"baseUrl\" and \"helpers\"")
        }
        return lock
    }

    /** Returns why the lock cannot be used to download helper for platform, or null. */
    @NonCPS
    static String lockProblem(String step, String helper, Map lock, String platform) {
        Object entry = lock.helpers[helper] instanceof Map ? lock.helpers[helper][platform] : null
        if (!(entry instanceof Map)) {
            return "${step}: helper ${helper} is not on this agent and helpers.lock has no build for ${platform}: " +
                "install it on the agent's PATH or set RELEASE_GATES_HELPER_DIR".toString()
        }
        String sha = entry.sha256?.toString()
        if (!(sha ==~ /[0-9a-f]{64}/)) {
            return "${step}: helper ${helper} is not on this agent and helpers.lock pins no sha256 for ${platform} " +
                "(found '${sha}'): refusing to download an unverified helper; install it on the agent's PATH " +
                "or set RELEASE_GATES_HELPER_DIR".toString()
        }
        if (!lock.baseUrl) {
            return "${step}: helpers.lock has no baseUrl: set RELEASE_GATES_HELPER_URL".toString()
        }
        return null
    }

    /**
     * Returns the sh script that prints "found PATH", "missing-dir DIR" or "download OS/ARCH CACHEPATH" last.
     * A helper on PATH counts only when its --version names the lock's version; a cached helper only when it
     * matches the lock's pin for the platform (when there is one). Skips print "path-version GOT PATH" or
     * "stale-cache GOT PATH" lines first.
     */
    @NonCPS
    static String locateScript(String helper, String version, Map pins = [:]) {
        StringBuilder cases = new StringBuilder()
        for (Map.Entry e : pins.entrySet()) {
            cases.append("  ${Shell.quote(e.key)}) want=${Shell.quote(e.value)} ;;\n")
        }
        return """\
h=${Shell.quote(helper)}
v=${Shell.quote(version)}
d="\${RELEASE_GATES_HELPER_DIR:-}"
if [ -n "\$d" ]; then
  if [ -x "\$d/\$h" ]; then echo "found \$d/\$h"; else echo "missing-dir \$d"; fi
  exit 0
fi
sum() { if command -v sha256sum >/dev/null 2>&1; then sha256sum "\$1" | cut -d ' ' -f 1; else shasum -a 256 "\$1" | cut -d ' ' -f 1; fi; }
if p=\$(command -v "\$h" 2>/dev/null); then
  got=\$("\$p" --version 2>/dev/null | head -n 1 | awk '{ print \$NF }') || got=''
  if [ "\$got" = "\$v" ]; then echo "found \$p"; exit 0; fi
  echo "path-version \${got:-none} \$p"
fi
os=\$(uname -s | tr '[:upper:]' '[:lower:]')
case \$(uname -m) in x86_64|amd64) arch=amd64 ;; aarch64|arm64) arch=arm64 ;; *) arch=\$(uname -m) ;; esac
want=''
case "\$os/\$arch" in
${cases}  *) want='' ;;
esac
c="\${RELEASE_GATES_CACHE_DIR:-\${WORKSPACE_TMP:-\$PWD/.release-gates}/tools}/\$v/\$os-\$arch/\$h"
if [ -x "\$c" ]; then
  if [ -z "\$want" ]; then echo "found \$c"; exit 0; fi
  got=\$(sum "\$c")
  if [ "\$got" = "\$want" ]; then echo "found \$c"; exit 0; fi
  echo "stale-cache \$got \$c"
fi
echo "download \$os/\$arch \$c"
""".toString()
    }

    /**
     * Returns the sh script that fetches <base>/<version>/SHA256SUMS and SHA256SUMS.sig, verifies the signature
     * with publicKey (openssl; the .sig is base64 DER ECDSA over sha256, as cosign sign-blob writes it), checks
     * that SHA256SUMS lists sha256 for the helper, then downloads it to dest via a temp dir and checks it again.
     * It prints last "ok URL", "badsig LISTED SUMS_SHA KEY_SHA URL", "sums-mismatch LISTED URL", "mismatch GOT URL" or "failed WHY URL".
     */
    @NonCPS
    static String downloadScript(String helper, String version, String platform, String baseUrl, String sha256, String dest,
                                 String publicKey) {
        String file = "${helper}-${platform.replace('/', '-')}"
        return """\
u=${Shell.quote(baseUrl ?: '')}
if [ -n "\${RELEASE_GATES_HELPER_URL:-}" ]; then u="\$RELEASE_GATES_HELPER_URL"; fi
base="\${u%/}/"${Shell.quote(version)}
file=${Shell.quote(file)}
want=${Shell.quote(sha256)}
dest=${Shell.quote(dest)}
work="\$dest.dl.\$\$"
sum() { if command -v sha256sum >/dev/null 2>&1; then sha256sum "\$1" | cut -d ' ' -f 1; else shasum -a 256 "\$1" | cut -d ' ' -f 1; fi; }
fail() { rm -rf "\$work"; echo "\$1"; exit 0; }
fetch() { if curl -fsSL --retry 2 --connect-timeout 10 -o "\$work/\$1" "\$base/\$1"; then :; else fail "failed curl-exit-\$? \$base/\$1"; fi; }
rm -rf "\$work"
mkdir -p "\$work" || fail "failed mkdir \$work"
command -v openssl >/dev/null 2>&1 || fail "failed openssl-missing-on-agent \$base/SHA256SUMS.sig"
fetch SHA256SUMS
fetch SHA256SUMS.sig
cat > "\$work/release-signing.pub" <<'RG_RELEASE_PUBLIC_KEY'
${publicKey.trim()}
RG_RELEASE_PUBLIC_KEY
listed=\$(awk -v f="\$file" '\$2 == f || \$2 == "*" f { print \$1; exit }' "\$work/SHA256SUMS")
if base64 -d < "\$work/SHA256SUMS.sig" > "\$work/sig.der" 2>/dev/null &&
  openssl dgst -sha256 -verify "\$work/release-signing.pub" -signature "\$work/sig.der" "\$work/SHA256SUMS" >/dev/null 2>&1; then :
else
  openssl pkey -pubin -in "\$work/release-signing.pub" -outform DER > "\$work/key.der" 2>/dev/null || :
  fail "badsig \${listed:-none} \$(sum "\$work/SHA256SUMS") \$(sum "\$work/key.der") \$base/SHA256SUMS.sig"
fi
[ "\$listed" = "\$want" ] || fail "sums-mismatch \${listed:-none} \$base/SHA256SUMS"
fetch "\$file"
got=\$(sum "\$work/\$file")
[ "\$got" = "\$want" ] || fail "mismatch \$got \$base/\$file"
chmod 0755 "\$work/\$file" && mv -f "\$work/\$file" "\$dest" && rm -rf "\$work" && echo "ok \$base/\$file"
""".toString()
    }

    /** Returns the run script: clear any stale result, then the quoted helper command line (flags, then '--' and positional). */
    @NonCPS
    static String commandLine(String path, String verb, List args, String paramsFile, String resultFile, List positional = []) {
        List words = [path]
        words.addAll(verb.tokenize(' '))
        words.addAll(args ?: [])
        if (paramsFile != null) {
            words.addAll(['--params', paramsFile])
        }
        words.addAll(['--result-file', resultFile])
        if (positional) {
            words.add('--')
            words.addAll(positional)
        }
        return "mkdir -p ${Shell.quote(parentOf(resultFile))} && rm -f ${Shell.quote(resultFile)}\n${Shell.join(words)}\n".toString()
    }

    /** Returns the error for a helper's exit status and result, or null when it passed. */
    @NonCPS
    static String failureMessage(String step, String helper, int status, Map result) {
        if (result == null) {
            return "${step}: helper ${helper} failed with exit code ${status} and wrote no result file".toString()
        }
        String msg = result.message ? result.message.toString() : '(no message)'
        switch (status) {
            case PASSED: return null
            case REJECTED: return "${step}: rejected: ${msg}".toString()
            case BAD_INPUT: return "${step}: bad input or configuration: ${msg}".toString()
            case UNAVAILABLE: return "${step}: infrastructure unavailable: ${msg} (retry later)".toString()
            case HELPER_BUG: return "${step}: helper bug, please report (helper ${helper ?: ''}, trace ${result.trace_id ?: '-'}): ${msg}".toString()
            default: return "${step}: helper ${helper ?: ''} failed with exit code ${status}: ${msg}".toString()
        }
    }

    /** Reads and parses the result file, or returns null when it is missing or not a JSON object. */
    static Map readResult(Object script, String resultFile) {
        if (!script.fileExists(resultFile)) {
            return null
        }
        // Helpers write results atomically, so a file that is not one JSON object is a crash's leftover; no catch, so an
        // abort or a sandbox rejection is never mistaken for "no result".
        String text = script.readFile(file: resultFile)?.trim()
        if (!text || !text.startsWith('{') || !text.endsWith('}')) {
            return null
        }
        Object v = script.readJSON(text: text, returnPojo: true)
        return v instanceof Map ? (Map) v : null
    }

    /** Returns v as pretty JSON. */
    @NonCPS
    static String toJson(Object v) {
        return JsonOutput.prettyPrint(JsonOutput.toJson(StepConfig.plain(v))) + '\n'
    }

    /** Returns the default result file for step and verb. */
    @NonCPS
    static String defaultResultFile(String step, String verb) {
        return ".release-gates/${step}-${verb.tokenize(' ').join('-')}.json".toString()
    }

    /** Returns path with a trailing .json replaced by suffix (or suffix appended). */
    @NonCPS
    static String siblingPath(String path, String suffix) {
        return (path.endsWith('.json') ? path.substring(0, path.length() - 5) : path) + suffix
    }

    /** Splits the last line of out into [kind, first, rest] (rest keeps spaces); "found" and "missing-dir" keep all in first. */
    @NonCPS
    static List lastLineWords(String out) {
        List lines = out.tokenize('\n')
        String last = lines ? lines.last().toString() : ''
        if (last.startsWith('found ') || last.startsWith('missing-dir ')) {
            int i = last.indexOf(' ')
            return [last.substring(0, i), last.substring(i + 1), '']
        }
        List w = last.split(' ', 3) as List
        while (w.size() < 3) {
            w.add('')
        }
        return w
    }

    @NonCPS
    private static String parentOf(String path) {
        int i = path.lastIndexOf('/')
        return i > 0 ? path.substring(0, i) : (i == 0 ? '/' : '.')
    }

    @NonCPS
    private static String newTraceId() {
        return 'rg-' + UUID.randomUUID().toString().replace('-', '')
    }
}
