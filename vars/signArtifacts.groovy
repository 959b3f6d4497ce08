import com.cloudbees.groovy.cps.NonCPS
import io.releasegates.Credentials
import io.releasegates.HelperRunner
import io.releasegates.StepConfig

/** Returns signArtifacts' parameters and defaults; vars/signArtifacts.txt documents every key. */
Map defaults() {
    return [
        files                : [],                                 // files to sign (globs allowed), relative to the workspace
        images               : [],                                 // images to sign by digest: repo:tag, repo@sha256:... or repo:tag@sha256:...
        key                  : null,                               // signing key: a path, file://path or a pkcs11: URI (no pin-value)
        keyCredentialsId     : null,                               // or: Jenkins file credential holding the encrypted cosign key
        keyring              : null,                               // or: keys.yaml; signs with the environment's current key
        environment          : null,                               // with keyring: the environment whose current key signs
        keyringAuditLog      : null,                               // with keyring: append an audit line here when a software fallback is used
        passwordCredentialsId: null,                               // secret text: the key password, bound as COSIGN_PASSWORD
        pinCredentialsId     : null,                               // secret text: the PKCS#11 PIN, bound as PKCS11_PIN
        certChain            : null,                               // PEM chain of the key, leaf first; required to sign images with notation
        formats              : ['cosign', 'notation'],             // image signature formats
        notationFormat       : 'jws',                              // notation envelope: jws or cose
        referrers            : false,                              // cosign signatures as OCI 1.1 referrers instead of sha256-<hex>.sig tags
        expectDigest         : null,                               // sha256:... the single image must resolve to
        checksums            : null,                               // also write and sign this SHA256SUMS file of the files
        bundle               : false,                              // also write <file>.bundle (cosign key-based bundle)
        expectPlatform       : null,                               // Go binaries among files must be built for this os/arch
        allowDirty           : false,                              // accept Go binaries built from a modified tree
        outDir               : null,                               // write blob signatures here instead of next to each file
        registryCredentialsId: null,                               // username/password credential, bound as REGISTRY_USERNAME/REGISTRY_PASSWORD
        plainHttp            : false,                              // allow plain HTTP to the registry
        verifyKeys           : [],                                 // public keys for the verification after signing; default: the signing key's
        trustPolicy          : null,                               // notation trust policy JSON: also run image verify after signing
        trustStore           : null,                               // notation trust store dir; with trustPolicy
        parallel             : 4,                                  // files or images processed at once
        resultFile           : '.release-gates/signArtifacts.json', // combined result; each helper call writes <base>-<verb>.json beside it
    ]
}

/** Signs config.files and config.images, verifies every signature, archives them; returns the combined result map. */
Map call(Map config = [:]) {
    Map c = StepConfig.resolve(this, 'signArtifacts', defaults(), config, [],
        [key: String, keyCredentialsId: String, keyring: String, environment: String, keyringAuditLog: String, passwordCredentialsId: String, pinCredentialsId: String, certChain: String,
         expectDigest: String, checksums: String, expectPlatform: String, outDir: String, registryCredentialsId: String,
         trustPolicy: String, trustStore: String])
    String problem = problemWith(c)
    if (problem != null) {
        error(problem)
    }
    List keyCreds = keyCredentials(c)
    Object keyArg = c.key ?: [env: 'RG_SIGNING_KEY']
    String pub = HelperRunner.siblingPath(c.resultFile, '.pub')
    List keys = c.verifyKeys
    Map results = [:]
    List order = []
    Map failed = null

    if (c.keyring) { // health-checks the environment's current key and names it, for keys public and the cert chain
        Map s = runHelper(c, 'keys select', keyringArgs(c), keyCreds)
        results.keysSelect = s
        order.add(s)
        failed = s.exit_code == 0 ? null : s
        if (failed == null) {
            keyArg = s.data?.key_ref // image sign takes the key's chain from keys.yaml unless certChain is given
        }
    }

    if (failed == null && c.files) {
        // without verifyKeys, blob sign also exports the loaded key's public key: no second decryption of the key
        Map r = runHelper(c, 'blob sign', blobSignArgs(c, keyArg, keys ? null : pub), keyCreds)
        results.blobSign = r
        order.add(r)
        failed = r.exit_code == 0 ? null : r
        if (failed == null && !keys) {
            keys = [pub]
        }
        if (failed == null) {
            Map v = runHelper(c, 'blob verify', blobVerifyArgs(c, keys, r), keyCreds)
            results.blobVerify = v
            order.add(v)
            failed = v.exit_code == 0 ? null : v
        }
    }
    if (failed == null && c.images) {
        List creds = keyCreds + registryCredentials(c)
        Map r = runHelper(c, 'image sign', imageSignArgs(c, keyArg), creds)
        results.imageSign = r
        order.add(r)
        failed = r.exit_code == 0 ? null : r
        if (failed == null && c.trustPolicy && 'cosign' in c.formats && !keys) {
            Map k = runHelper(c, 'keys public', ['--key', keyArg, '--out', pub], keyCreds)
            results.keysPublic = k
            order.add(k)
            failed = k.exit_code == 0 ? null : k
            keys = [pub]
        }
        if (failed == null && c.trustPolicy) {
            Map v = runHelper(c, 'image verify', imageVerifyArgs(c, keys), creds)
            results.imageVerify = v
            order.add(v)
            failed = v.exit_code == 0 ? null : v
        }
    }

    Map combined = combine(c, results, order, failed, (String) env.RELEASE_TRACE_ID)
    writeFile(file: c.resultFile, text: HelperRunner.toJson(combined))
    archiveArtifacts(artifacts: archiveList(c, order, combined).join(','), allowEmptyArchive: true)
    List lines = summaryLines(combined)
    for (int i = 0; i < lines.size(); i++) {
        echo(lines[i])
    }
    if (failed != null) {
        HelperRunner.check(this, 'signArtifacts', failed)
    }
    return combined
}

/** Runs one sign-artifacts verb with its own result file beside c.resultFile and returns the result, failed or not. */
Map runHelper(Map c, String verb, List args, List credentials) {
    int i = args.indexOf('--')
    List flags = new ArrayList(i < 0 ? args : args.subList(0, i))                    // copies: a subList view does not serialize
    List positional = new ArrayList(i < 0 ? [] : args.subList(i + 1, args.size())) // across CPS step boundaries
    return HelperRunner.run(this, [step: 'signArtifacts', helper: 'sign-artifacts', verb: verb, args: flags, positional: positional,
        resultFile: resultFileFor(c.resultFile, verb), credentials: credentials, allowFailure: true])
}

/** Returns the withCredentials bindings for the key file, its password and the PIN (each only when its id is set). */
List keyCredentials(Map c) {
    return Credentials.forKey(this, c.keyCredentialsId, c.passwordCredentialsId, c.pinCredentialsId, 'RG_SIGNING_KEY')
}

/** Returns the registry username/password binding, or [] (the helper then reads the docker config). */
List registryCredentials(Map c) {
    return Credentials.registry(this, c.registryCredentialsId)
}

/** Returns the first problem of the resolved config c as one actionable line, or null; it never echoes the key. */
@NonCPS
String problemWith(Map c) {
    if (!c.files && !c.images) {
        return "signArtifacts: nothing to sign: give files (paths or globs) and/or images, e.g. files: ['dist/*', 'go.sum']"
    }
    if ([c.key, c.keyCredentialsId, c.keyring].findAll { it }.size() > 1) {
        return "signArtifacts: set one of key (a path, file:// or pkcs11: URI), keyCredentialsId (a Jenkins file credential) or keyring (keys.yaml), not both"
    }
    if (!c.key && !c.keyCredentialsId && !c.keyring) {
        return "signArtifacts: parameter 'key', 'keyCredentialsId' or 'keyring' is required: key: 'pkcs11:token=release;object=signer?module-path=...', " +
            "keyCredentialsId: 'cosign-key' or keyring: 'keys.yaml' with environment (see vars/signArtifacts.txt)"
    }
    if ((c.keyring == null) != (c.environment == null)) {
        return "signArtifacts: set keyring and environment together (keys.yaml and the environment whose current key signs)"
    }
    if (c.keyringAuditLog && !c.keyring) {
        return 'signArtifacts: keyringAuditLog applies only with keyring'
    }
    if (c.key && c.key.toLowerCase().contains('pin-value')) {
        return 'signArtifacts: a pin-value in the key URI is refused (it would be on the command line and in the log): ' +
            'store the PIN as a secret text credential and pass pinCredentialsId (bound as PKCS11_PIN)'
    }
    List bad = c.formats.findAll { !(it in ['cosign', 'notation']) }
    if (!c.formats || bad) {
        return "signArtifacts: formats must be a non-empty subset of cosign, notation; got ${c.formats.inspect()}"
    }
    if (!(c.notationFormat in ['jws', 'cose'])) {
        return "signArtifacts: notationFormat must be jws or cose; got '${c.notationFormat}'"
    }
    if (c.images && 'notation' in c.formats && !c.certChain && !c.keyring) {
        return "signArtifacts: parameter 'certChain' is required to sign images with notation (the key's PEM chain, leaf first), " +
            "or set formats: ['cosign']"
    }
    if (c.expectDigest && c.images.size() != 1) {
        return "signArtifacts: expectDigest needs exactly one image; got ${c.images.size()}"
    }
    if (c.expectDigest && !(c.expectDigest ==~ /sha256:[0-9a-f]{64}/)) {
        return "signArtifacts: expectDigest must be sha256:<64 hex digits>; got '${c.expectDigest}'"
    }
    if (!c.files && (c.checksums || c.bundle || c.expectPlatform || c.allowDirty || c.outDir)) {
        return 'signArtifacts: checksums, bundle, expectPlatform, allowDirty and outDir apply to files, and files is empty'
    }
    if (c.expectPlatform && !(c.expectPlatform ==~ /[a-z0-9]+\/[a-z0-9]+/)) {
        return "signArtifacts: expectPlatform must be os/arch, e.g. linux/arm64; got '${c.expectPlatform}'"
    }
    if (!c.images && (c.registryCredentialsId || c.trustPolicy || c.trustStore || c.plainHttp)) {
        return 'signArtifacts: registryCredentialsId, plainHttp, trustPolicy and trustStore apply to images, and images is empty'
    }
    if ((c.trustPolicy == null) != (c.trustStore == null)) {
        return 'signArtifacts: set trustPolicy and trustStore together (the notation trust policy JSON and its trust store dir)'
    }
    if (!(c.parallel instanceof Integer || c.parallel instanceof Long) || c.parallel < 1 || c.parallel > 64) {
        return "signArtifacts: parallel must be a whole number from 1 to 64; got ${c.parallel.inspect()}"
    }
    for (Object k : c.verifyKeys) {
        if (!(k instanceof String) || !k.trim() || k.toLowerCase().contains('pin-value')) {
            return 'signArtifacts: verifyKeys must list public key files (or pkcs11: URIs without pin-value), e.g. verifyKeys: [\'release.pub\']'
        }
    }
    return null
}

/** Returns the key flags of a signing call: --key, or --keyring/--environment so the helper counts the key's signatures. */
@NonCPS
List signingKeyArgs(Map c, Object keyArg) {
    return c.keyring ? keyringArgs(c) : ['--key', keyArg]
}

/** Returns --keyring, --environment and, when set, --audit-log. */
@NonCPS
List keyringArgs(Map c) {
    List a = ['--keyring', c.keyring, '--environment', c.environment]
    if (c.keyringAuditLog) {
        a.addAll(['--audit-log', c.keyringAuditLog])
    }
    return a
}

/** Returns the arguments of blob sign: flags, '--', then the files. */
@NonCPS
List blobSignArgs(Map c, Object keyArg, String publicKeyOut) {
    List a = signingKeyArgs(c, keyArg)
    if (publicKeyOut) {
        a.addAll(['--public-key-out', publicKeyOut])
    }
    if (c.checksums) {
        a.addAll(['--checksums', c.checksums])
    }
    if (c.bundle) {
        a.add('--bundle')
    }
    if (c.expectPlatform) {
        a.addAll(['--expect-platform', c.expectPlatform])
    }
    if (c.allowDirty) {
        a.add('--allow-dirty')
    }
    if (c.outDir) {
        a.addAll(['--out-dir', c.outDir])
    }
    a.addAll(['--parallel', c.parallel.toString()])
    a.add('--')
    a.addAll(c.files.collect { it.toString() })
    return a
}

/** Returns the arguments of blob verify: every key, then exactly the files blob sign signed (globs expanded, SHA256SUMS too). */
@NonCPS
List blobVerifyArgs(Map c, List keys, Map signed) {
    List a = []
    for (Object k : keys) {
        a.addAll(['--key', k.toString()])
    }
    if (c.outDir) {
        a.addAll(['--signature-dir', c.outDir])
    }
    a.addAll(['--parallel', c.parallel.toString()])
    a.add('--')
    a.addAll((signed.items ?: []).findAll { it.kind == 'blob' && it.status == 'passed' }.collect { it.name.toString() })
    return a
}

/** Returns the arguments of image sign. */
@NonCPS
List imageSignArgs(Map c, Object keyArg) {
    List a = signingKeyArgs(c, keyArg) + ['--format', c.formats.join(',')]
    if ('notation' in c.formats) {
        if (c.certChain) {
            a.addAll(['--cert-chain', c.certChain])
        }
        a.addAll(['--notation-format', c.notationFormat])
    }
    if (c.referrers) {
        a.add('--referrers')
    }
    if (c.expectDigest) {
        a.addAll(['--expect-digest', c.expectDigest])
    }
    if (c.plainHttp) {
        a.add('--plain-http')
    }
    a.addAll(['--parallel', c.parallel.toString()])
    a.add('--')
    a.addAll(c.images.collect { it.toString() })
    return a
}

/** Returns the arguments of image verify: the cosign keys, the notation trust policy and store, then the images. */
@NonCPS
List imageVerifyArgs(Map c, List keys) {
    List a = []
    if ('cosign' in c.formats) {
        for (Object k : keys) {
            a.addAll(['--key', k.toString()])
        }
    }
    if ('notation' in c.formats) {
        a.addAll(['--trust-policy', c.trustPolicy, '--trust-store', c.trustStore])
    }
    a.addAll(['--format', c.formats.join(',')])
    if (c.plainHttp) {
        a.add('--plain-http')
    }
    a.addAll(['--parallel', c.parallel.toString()])
    a.add('--')
    a.addAll(c.images.collect { it.toString() })
    return a
}

/** Returns the result file of verb: resultFile with .json replaced by -<verb words>.json. */
@NonCPS
String resultFileFor(String resultFile, String verb) {
    return HelperRunner.siblingPath(resultFile, '-' + verb.tokenize(' ').join('-') + '.json')
}

/** Returns the combined result (helper result schema, so slackApproval can summarise it) with every call's result. */
@NonCPS
Map combine(Map c, Map results, List order, Map failed, String traceId) {
    List items = []
    for (Object r : [results.blobSign, results.imageSign]) {
        if (r != null) {
            items.addAll(r.items ?: [])
        }
    }
    List signatures = []
    for (Object it : (results.blobSign?.items ?: [])) {
        if (it.details?.signature) {
            signatures.add(it.details.signature.toString())
        }
        if (it.details?.bundle) {
            signatures.add(it.details.bundle.toString())
        }
    }
    Map out = new LinkedHashMap()
    out.helper = 'sign-artifacts'
    out.verb = 'signArtifacts'
    out.status = failed == null ? 'passed' : (failed.status ?: 'failed').toString()
    out.exit_code = failed == null ? 0 : failed.exit_code
    out.message = failed == null ? '' : "${failed.verb}: ${failed.message ?: ''}".toString()
    out.trace_id = traceId
    out.items = items
    out.signatures = signatures
    out.publicKey = results.keysPublic?.exit_code == 0 || results.blobSign?.data?.public_key ? HelperRunner.siblingPath(c.resultFile, '.pub') : null
    out.resultFiles = order.collect { resultFileFor(c.resultFile, it.verb?.toString() ?: 'unknown') }
    out.results = results
    return out
}

/** Returns what to archive: every result file, the exported public key and the blob signatures (workspace-relative only). */
@NonCPS
List archiveList(Map c, List order, Map combined) {
    List out = [c.resultFile]
    out.addAll(combined.resultFiles)
    if (combined.publicKey) {
        out.add(combined.publicKey)
    }
    out.addAll(combined.signatures)
    return out.findAll { !it.startsWith('/') && !it.contains(',') && !it.contains('..') }.unique()
}

/** Returns the console summary: the outcome, then one line per signed file or image. */
@NonCPS
List summaryLines(Map combined) {
    List lines = ["signArtifacts: ${combined.status} (trace ${combined.trace_id ?: '-'})".toString()]
    for (Object it : combined.items) {
        String d = it.details?.digest ?: (it.details?.sha256 ? 'sha256:' + it.details.sha256 : '')
        lines.add("signArtifacts:   ${it.kind ?: 'item'} ${it.name} ${it.status}${d ? ' ' + d : ''}".toString())
    }
    for (Object r : combined.results.values()) {
        if (r.exit_code == 0 && (r.verb == 'blob verify' || r.verb == 'image verify')) {
            lines.add("signArtifacts: ${r.verb}: ${(r.items ?: []).size()} verified".toString())
        }
    }
    if (combined.exit_code != 0) {
        lines.add("signArtifacts: ${combined.message}".toString())
    }
    return lines
}
