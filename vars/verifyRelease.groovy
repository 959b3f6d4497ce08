import com.cloudbees.groovy.cps.NonCPS
import io.releasegates.Credentials
import io.releasegates.HelperRunner
import io.releasegates.StepConfig

/** Returns verifyRelease's parameters and defaults; vars/verifyRelease.txt documents every key. */
Map defaults() {
    return [
        image                     : null,                               // image to deploy: repo@sha256:... (a tag is resolved once, then checked by digest)
        environment               : null,                               // target environment; an approval for it must exist
        expectRepo                : null,                               // provenance must name this repository
        expectBranch              : null,                               // provenance must name this branch
        expectBuilder             : null,                               // builder id (Jenkins build URL) prefix; default env.JOB_URL
        expectCommit              : null,                               // provenance must name this commit (prefix)
        minApprovals              : 1,                                  // distinct approvers required at least
        cosignKeys                : [],                                 // cosign public key files (PEM) of the image signer
        releaseKeys               : [],                                 // public key files of the provenance and approval attestations
        trustPolicy               : null,                               // notation trust policy JSON
        trustStore                : null,                               // notation trust store dir (x509/ca/<name>/*.pem)
        blobs                     : [:],                                // blob path -> its cosign signature file
        blobKeys                  : [],                                 // public keys of the blob signatures; default cosignKeys
        revokedKeyIds             : [],                                 // key ids no longer trusted
        keyring                   : null,                               // keys.yaml: its archived and revoked keys are no longer trusted
        index                     : null,                               // evidence index (ledger of verified releases); rollback reads it
        ledger                    : null,                               // this release's audit ledger; the outcome is recorded there
        auditPubs                 : [],                                 // audit public keys the index is signed with (rollback)
        auditKey                  : null,                               // audit signing key: path, file:// or pkcs11: URI (no pin-value)
        auditKeyCredentialsId     : null,                               // or: file credential holding the encrypted audit key
        auditPasswordCredentialsId: null,                               // secret text: the audit key password, bound as COSIGN_PASSWORD
        auditPinCredentialsId     : null,                               // secret text: the PKCS#11 PIN, bound as PKCS11_PIN
        registryCredentialsId     : null,                               // username/password credential for the registry
        plainHttp                 : false,                              // allow plain HTTP to the registry
        rollback                  : false,                              // find the last release for environment that still verifies
        current                   : null,                               // rollback: the digest being replaced; never chosen
        resultFile                : '.release-gates/verifyRelease.json', // result JSON, relative to the workspace
    ]
}

/**
 * Verifies a release's evidence before deploy (or, with rollback: true, finds the last release for the environment
 * whose evidence still verifies) and returns the verified digest; a deploy closure, if given, is called with it.
 */
String call(Map config = [:], Closure deploy = null) {
    Map c = StepConfig.resolve(this, 'verifyRelease', defaults(), config, ['environment'],
        [image: String, environment: String, expectRepo: String, expectBranch: String, expectBuilder: String, expectCommit: String,
         trustPolicy: String, trustStore: String, keyring: String, index: String, ledger: String, auditKey: String, auditKeyCredentialsId: String,
         auditPasswordCredentialsId: String, auditPinCredentialsId: String, registryCredentialsId: String, current: String])
    String builder = c.expectBuilder ?: env.JOB_URL
    String problem = problemWith(c, builder)
    if (problem != null) {
        error(problem)
    }
    String verb = c.rollback ? 'rollback' : 'verify'
    Map result = HelperRunner.run(this, [step: 'verifyRelease', helper: 'release-evidence', verb: verb, args: argsOf(c, builder),
        resultFile: c.resultFile, credentials: credentialsOf(c), allowFailure: true,
        label: c.rollback ? "verifyRelease: rollback target for ${c.environment}".toString() : "verifyRelease: ${c.environment}".toString()])
    archiveArtifacts(artifacts: c.resultFile, allowEmptyArchive: true)
    List lines = summaryLines(c, result)
    for (int i = 0; i < lines.size(); i++) {
        echo(lines[i])
    }
    HelperRunner.check(this, 'verifyRelease', result)
    String digest = result.data?.digest
    if (!digest) {
        error("verifyRelease: release-evidence ${verb} passed but reported no digest; refusing to hand an unverified image to deploy")
    }
    if (deploy != null) {
        deploy.call(digest)
    }
    return digest
}

/** Returns the first problem of the resolved config c as one actionable line, or null. */
@NonCPS
String problemWith(Map c, String builder) {
    List missing = []
    if (!c.rollback && !c.image) {
        missing.add('image')
    }
    if (!c.expectRepo) {
        missing.add('expectRepo')
    }
    if (!c.expectBranch) {
        missing.add('expectBranch')
    }
    if (!builder) {
        missing.add('expectBuilder (or run in a job with JOB_URL)')
    }
    if (!c.cosignKeys) {
        missing.add('cosignKeys')
    }
    if (!c.releaseKeys) {
        missing.add('releaseKeys')
    }
    if (!c.trustPolicy || !c.trustStore) {
        missing.add('trustPolicy and trustStore')
    }
    if (missing) {
        return "verifyRelease: missing ${missing.join(', ')}: every release is checked for both signatures (cosign + notation), " +
            "provenance and approval (see vars/verifyRelease.txt)".toString()
    }
    if (c.rollback && c.image) {
        return 'verifyRelease: rollback finds the image itself; drop image (pass current: the digest being replaced)'
    }
    if (c.rollback && (!c.index || !c.auditPubs)) {
        return "verifyRelease: rollback needs index (the evidence index written by earlier verifyRelease calls) and auditPubs"
    }
    boolean needsAuditKey = c.rollback || c.index || c.ledger
    if (needsAuditKey && !c.auditKey && !c.auditKeyCredentialsId) {
        return "verifyRelease: index, ledger and rollback records are signed: set auditKey or auditKeyCredentialsId"
    }
    if (c.auditKey && c.auditKeyCredentialsId) {
        return 'verifyRelease: set auditKey or auditKeyCredentialsId, not both'
    }
    if (!(c.minApprovals instanceof Integer) || c.minApprovals < 1) {
        return "verifyRelease: minApprovals must be a whole number of at least 1; got ${c.minApprovals.inspect()}".toString()
    }
    return null
}

/** Returns the helper arguments; the audit key file credential is passed by env reference, never by value. */
@NonCPS
List argsOf(Map c, String builder) {
    List a = []
    if (c.rollback) {
        for (Object p : c.auditPubs) {
            a.addAll(['--index-pub', p.toString()])
        }
        if (c.current) {
            a.addAll(['--current', c.current])
        }
    } else {
        a.addAll(['--image', c.image])
        if (c.expectCommit) {
            a.addAll(['--expect-commit', c.expectCommit])
        }
    }
    a.addAll(['--environment', c.environment, '--expect-repo', c.expectRepo, '--expect-branch', c.expectBranch,
              '--expect-builder', builder, '--min-approvals', c.minApprovals.toString()])
    for (Object k : c.cosignKeys) {
        a.addAll(['--cosign-key', k.toString()])
    }
    for (Object k : c.releaseKeys) {
        a.addAll(['--release-key', k.toString()])
    }
    a.addAll(['--trust-policy', c.trustPolicy, '--trust-store', c.trustStore])
    for (Object e : c.blobs.entrySet()) {
        a.addAll(['--blob', "${e.key}=${e.value}".toString()])
    }
    for (Object k : c.blobKeys) {
        a.addAll(['--blob-key', k.toString()])
    }
    for (Object k : c.revokedKeyIds) {
        a.addAll(['--revoked-key-id', k.toString()])
    }
    if (c.keyring) {
        a.addAll(['--keyring', c.keyring])
    }
    if (c.index) {
        a.addAll(['--index', c.index])
    }
    if (c.ledger) {
        a.addAll(['--ledger', c.ledger])
    }
    if (c.auditKey) {
        a.addAll(['--audit-key', c.auditKey])
    } else if (c.auditKeyCredentialsId) {
        a.addAll(['--audit-key', [env: 'RG_AUDIT_KEY']])
    }
    if (c.plainHttp) {
        a.add('--plain-http')
    }
    return a
}

/** Returns the withCredentials bindings: audit key file, its password, the PIN, the registry login (each only when set). */
List credentialsOf(Map c) {
    return Credentials.forKey(this, c.auditKeyCredentialsId, c.auditPasswordCredentialsId, c.auditPinCredentialsId, 'RG_AUDIT_KEY') +
        Credentials.registry(this, c.registryCredentialsId)
}

/** Returns the console summary: the outcome, then one line per evidence check or rollback candidate. */
@NonCPS
List summaryLines(Map c, Map result) {
    String what = c.rollback ? "rollback for ${c.environment}" : "${c.environment}"
    String digest = result.data?.digest ?: '-'
    List lines = ["verifyRelease: ${what}: ${result.status ?: 'unknown'} ${digest} (trace ${result.trace_id ?: '-'})".toString()]
    for (Object it : (result.items ?: [])) {
        String msg = it.message ? ": ${it.message}" : ''
        lines.add("verifyRelease:   ${it.name} ${it.status}${msg}".toString())
    }
    return lines
}
