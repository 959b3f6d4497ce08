import com.cloudbees.groovy.cps.NonCPS
import io.releasegates.Credentials
import io.releasegates.HelperRunner
import io.releasegates.StepConfig

/** Returns attestRelease's parameters and defaults; vars/attestRelease.txt documents every key. */
Map defaults() {
    return [
        image                       : null,                                  // image to attest: repo@sha256:... (or a tag, resolved once)
        blobs                       : [],                                    // files to attest; envelopes go to outDir/<name>.<kind>.intoto.json
        outDir                      : '.release-gates/attestations',         // where blob attestations are written
        environment                 : null,                                  // environment approved for; required with approval
        approval                    : '.release-gates/slackApproval.json',   // slackApproval's result file; null skips the approval attestation
        rule                        : null,                                  // approval rule name; default '<service>/<environment>' of the approval
        gateResults                 : ['.release-gates/goBuildGate.json', '.release-gates/signArtifacts.json'], // earlier results; missing ones are skipped
        repo                        : null,                                  // git repository URL; default env.GIT_URL
        commit                      : null,                                  // full commit id; default env.GIT_COMMIT
        branch                      : null,                                  // branch; default env.BRANCH_NAME
        builderId                   : null,                                  // builder id (the Jenkins build URL); default env.BUILD_URL
        module                      : null,                                  // Go module path
        goVersion                   : null,                                  // Go toolchain version
        goos                        : null,                                  // target GOOS
        goarch                      : null,                                  // target GOARCH
        releaseKey                  : null,                                  // release (attestation) key: path, file:// or pkcs11: URI (no pin-value)
        releaseKeyCredentialsId     : null,                                  // or: file credential holding the encrypted release key
        releasePasswordCredentialsId: null,                                  // secret text: the release key password, bound as COSIGN_PASSWORD
        releasePinCredentialsId     : null,                                  // secret text: the release key's PKCS#11 PIN, bound as PKCS11_PIN
        ledger                      : '.release-gates/audit.jsonl',          // audit ledger the evidence is appended to (with an audit key)
        auditKey                    : null,                                  // audit key: path, file:// or pkcs11: URI (no pin-value); unset: no ledger
        auditKeyCredentialsId       : null,                                  // or: file credential holding the encrypted audit key
        auditPasswordCredentialsId  : null,                                  // secret text: the audit key password, bound as COSIGN_PASSWORD
        auditPinCredentialsId       : null,                                  // secret text: the audit key's PKCS#11 PIN, bound as PKCS11_PIN
        registryCredentialsId       : null,                                  // username/password credential for the registry
        plainHttp                   : false,                                 // allow plain HTTP to the registry
        resultFile                  : '.release-gates/attestRelease.json',   // combined result; each helper call writes <base>-<what>.json beside it
    ]
}

/**
 * Signs the release evidence verifyRelease checks: SLSA v1 provenance and (from slackApproval's result) an approval
 * attestation for the image and blobs, then appends them with the gate results to the audit ledger; returns the combined result.
 */
Map call(Map config = [:]) {
    boolean skipApproval = config != null && config.containsKey('approval') && !config.approval?.toString()?.trim()
    Map c = StepConfig.resolve(this, 'attestRelease', defaults(), config, [],
        [image: String, environment: String, rule: String, repo: String, commit: String, branch: String, builderId: String, module: String,
         goVersion: String, goos: String, goarch: String, releaseKey: String, releaseKeyCredentialsId: String,
         releasePasswordCredentialsId: String, releasePinCredentialsId: String, auditKey: String, auditKeyCredentialsId: String,
         auditPasswordCredentialsId: String, auditPinCredentialsId: String, registryCredentialsId: String])
    if (skipApproval) {
        c.approval = null
    }
    c.repo = c.repo ?: (env.GIT_URL ?: null)
    c.commit = c.commit ?: (env.GIT_COMMIT ?: null)
    c.branch = c.branch ?: (env.BRANCH_NAME ?: null)
    c.builderId = c.builderId ?: (env.BUILD_URL ?: null)
    String problem = problemWith(c)
    if (problem != null) {
        error(problem)
    }
    String traceId = HelperRunner.traceId(this)

    Map approval = null
    if (c.approval) {
        if (!fileExists(c.approval)) {
            error("attestRelease: approval result ${c.approval} not found: run slackApproval earlier in this build on this agent, " +
                "or pass approval: null to attest without an approval")
        }
        approval = HelperRunner.parseJson(readFile(file: c.approval, encoding: 'UTF-8').toString())
        Map rule = null
        String ruleFile = HelperRunner.siblingPath(c.approval, '-rule.json')
        if (fileExists(ruleFile)) {
            rule = HelperRunner.parseJson(readFile(file: ruleFile, encoding: 'UTF-8').toString())?.data?.rule
        }
        String bad = approvalProblem(c, approval, traceId)
        if (bad != null) {
            error(bad)
        }
        approval.fourEyes = rule != null && rule.allowSelfApproval == false
    }
    List gates = []
    for (int i = 0; i < c.gateResults.size(); i++) {
        String g = c.gateResults[i].toString()
        if (fileExists(g)) {
            gates.add(g)
        } else {
            echo("attestRelease: no gate result ${g}: not recorded")
        }
    }

    List releaseCreds = releaseCredentials(c) + registryCredentials(c)
    Map results = [:]
    Map failed = null
    Map p = HelperRunner.run(this, [step: 'attestRelease', helper: 'release-evidence', verb: 'attest provenance', args: provenanceArgs(c, gates),
        resultFile: resultFileFor(c.resultFile, 'provenance'), credentials: releaseCreds, allowFailure: true, label: 'attestRelease: provenance'])
    results.provenance = p
    failed = p.exit_code == 0 ? null : p
    if (failed == null && approval != null) {
        Map a = HelperRunner.run(this, [step: 'attestRelease', helper: 'release-evidence', verb: 'attest approval', args: approvalArgs(c, approval),
            resultFile: resultFileFor(c.resultFile, 'approval'), credentials: releaseCreds, allowFailure: true,
            label: "attestRelease: approval for ${c.environment}".toString()])
        results.approval = a
        failed = a.exit_code == 0 ? null : a
    }
    if (c.auditKey || c.auditKeyCredentialsId) {
        String auditFile = approval?.auditFile ? approval.auditFile.toString() : null
        if (auditFile && !fileExists(auditFile)) {
            auditFile = null
        }
        Map l = HelperRunner.run(this, [step: 'attestRelease', helper: 'release-evidence', verb: 'audit append',
            args: auditArgs(c, gates, results, auditFile), resultFile: resultFileFor(c.resultFile, 'audit'), credentials: auditCredentials(c),
            allowFailure: true, label: 'attestRelease: audit ledger'])
        results.audit = l
        failed = failed ?: (l.exit_code == 0 ? null : l)
    }

    Map combined = combine(c, results, failed, approval, traceId)
    writeFile(file: c.resultFile, text: HelperRunner.toJson(combined))
    archiveArtifacts(artifacts: archiveList(c, combined).join(','), allowEmptyArchive: true)
    List lines = summaryLines(combined)
    for (int i = 0; i < lines.size(); i++) {
        echo(lines[i])
    }
    if (failed != null) {
        HelperRunner.check(this, 'attestRelease', failed)
    }
    return combined
}

/** Returns the first problem of the resolved config c as one actionable line, or null. */
@NonCPS
String problemWith(Map c) {
    if (!c.image && !c.blobs) {
        return "attestRelease: nothing to attest: set image (usually the digest signArtifacts signed) and/or blobs (see vars/attestRelease.txt)"
    }
    List missing = []
    Map from = [repo: 'GIT_URL', commit: 'GIT_COMMIT', branch: 'BRANCH_NAME', builderId: 'BUILD_URL']
    for (Map.Entry e : from.entrySet()) {
        if (!c[e.key]) {
            missing.add("${e.key} (env.${e.value} is not set)".toString())
        }
    }
    if (missing) {
        return "attestRelease: missing ${missing.join(', ')}: the provenance names the source and the builder (see vars/attestRelease.txt)".toString()
    }
    if (!c.releaseKey && !c.releaseKeyCredentialsId) {
        return 'attestRelease: attestations are signed with the release key: set releaseKey or releaseKeyCredentialsId'
    }
    if (c.releaseKey && c.releaseKeyCredentialsId) {
        return 'attestRelease: set releaseKey or releaseKeyCredentialsId, not both'
    }
    if (c.auditKey && c.auditKeyCredentialsId) {
        return 'attestRelease: set auditKey or auditKeyCredentialsId, not both'
    }
    for (String k : ['releaseKey', 'auditKey']) {
        if (c[k] && c[k].toLowerCase().contains('pin-value')) {
            String pin = k == 'releaseKey' ? 'releasePinCredentialsId' : 'auditPinCredentialsId'
            return "attestRelease: a pin-value in ${k} is refused (it would be on the command line and in the log): use ${pin}".toString()
        }
    }
    if (c.approval && !c.environment) {
        return "attestRelease: parameter 'environment' is required for the approval attestation (or pass approval: null to skip it)"
    }
    if ((c.auditKey || c.auditKeyCredentialsId) && !c.ledger) {
        return 'attestRelease: an audit key needs a ledger to append to: set ledger'
    }
    Set names = new HashSet()
    for (Object b : c.blobs) {
        if (!(b instanceof String) || !b.trim()) {
            return "attestRelease: blobs must list files, e.g. blobs: ['bin/orders', 'go.sum']; got ${b.inspect()}".toString()
        }
        String name = b.substring(b.lastIndexOf('/') + 1)
        if (!names.add(name)) {
            return "attestRelease: two blobs are named ${name}: their attestations would overwrite each other in ${c.outDir}".toString()
        }
    }
    for (Object g : c.gateResults) {
        if (!(g instanceof String) || !g.trim()) {
            return "attestRelease: gateResults must list result files, e.g. gateResults: ['.release-gates/goBuildGate.json']"
        }
    }
    return null
}

/** Returns why the slackApproval result approval cannot back an approval attestation for this build, or null. */
@NonCPS
String approvalProblem(Map c, Map approval, String traceId) {
    if (approval == null) {
        return "attestRelease: ${c.approval} is not a slackApproval result (not a JSON object)".toString()
    }
    if (approval.decision != 'approved') {
        return "attestRelease: ${c.approval} records decision '${approval.decision}', not approved: refusing to attest an approval".toString()
    }
    if (approval.environment != c.environment) {
        return "attestRelease: ${c.approval} approves environment '${approval.environment}', not '${c.environment}'".toString()
    }
    if (approval.traceId != traceId) {
        return "attestRelease: ${c.approval} belongs to trace ${approval.traceId}, not this build's ${traceId}: " +
            "a stale approval from another build is never attested".toString()
    }
    if (!(approval.approvers instanceof List) || !approval.approvers || approval.approvers.any { !(it instanceof Map) || !it.approver }) {
        return "attestRelease: ${c.approval} lists no approvers".toString()
    }
    return null
}

/** Returns the arguments of attest provenance (and of the subject flags both attestations share). */
@NonCPS
List provenanceArgs(Map c, List gates) {
    List a = ['--repo', c.repo, '--commit', c.commit, '--branch', c.branch, '--builder-id', c.builderId]
    Map optional = [module: '--module', goVersion: '--go-version', goos: '--goos', goarch: '--goarch']
    for (Map.Entry e : optional.entrySet()) {
        if (c[e.key]) {
            a.addAll([e.value, c[e.key]])
        }
    }
    for (Object g : gates) {
        a.addAll(['--gate-result', g.toString()])
    }
    a.addAll(subjectArgs(c))
    return a
}

/** Returns the arguments of attest approval: the approvers, the rule and the required count from the slackApproval result. */
@NonCPS
List approvalArgs(Map c, Map approval) {
    List a = ['--environment', c.environment]
    for (Object ap : approval.approvers) {
        a.addAll(['--approver', ap.approver.toString()])
    }
    String rule = c.rule ?: "${approval.service ?: 'release'}/${c.environment}".toString()
    a.addAll(['--rule', rule, '--min-approvals', ((approval.required ?: 1) as int).toString()])
    if (approval.fourEyes) {
        a.add('--four-eyes')
    }
    if (c.builderId) {
        a.addAll(['--build-url', c.builderId])
    }
    a.addAll(subjectArgs(c))
    return a
}

/** Returns the subject, release key and registry flags; a key credential is passed by env reference, never by value. */
@NonCPS
List subjectArgs(Map c) {
    List a = []
    if (c.image) {
        a.addAll(['--image', c.image])
    }
    for (Object b : c.blobs) {
        a.addAll(['--blob', b.toString()])
    }
    if (c.blobs) {
        a.addAll(['--out-dir', c.outDir])
    }
    a.addAll(['--release-key', c.releaseKey ?: [env: 'RG_RELEASE_KEY']])
    if (c.plainHttp) {
        a.add('--plain-http')
    }
    return a
}

/** Returns the arguments of audit append: the gate results, the attestation results and the approval audit lines. */
@NonCPS
List auditArgs(Map c, List gates, Map results, String auditFile) {
    List a = ['--ledger', c.ledger]
    for (Object g : gates) {
        a.addAll(['--from-result', g.toString()])
    }
    for (String k : ['provenance', 'approval']) {
        if (results[k] != null) {
            a.addAll(['--from-result', resultFileFor(c.resultFile, k)])
        }
    }
    if (auditFile) {
        a.addAll(['--from-audit', auditFile])
    }
    a.addAll(['--audit-key', c.auditKey ?: [env: 'RG_AUDIT_KEY']])
    return a
}

/** Returns the withCredentials bindings of the release key: key file, password, PIN (each only when set). */
List releaseCredentials(Map c) {
    return Credentials.forKey(this, c.releaseKeyCredentialsId, c.releasePasswordCredentialsId, c.releasePinCredentialsId, 'RG_RELEASE_KEY')
}

/** Returns the withCredentials bindings of the audit key: key file, password, PIN (each only when set). */
List auditCredentials(Map c) {
    return Credentials.forKey(this, c.auditKeyCredentialsId, c.auditPasswordCredentialsId, c.auditPinCredentialsId, 'RG_AUDIT_KEY')
}

/** Returns the registry login binding when registryCredentialsId is set (and an image is attested). */
List registryCredentials(Map c) {
    return c.image ? Credentials.registry(this, c.registryCredentialsId) : []
}

/** Returns the result file of one helper call: resultFile with .json replaced by -<what>.json. */
@NonCPS
String resultFileFor(String resultFile, String what) {
    return HelperRunner.siblingPath(resultFile, '-' + what + '.json')
}

/** Returns the combined result (helper result schema) with every call's result, the attestation files and the approvers. */
@NonCPS
Map combine(Map c, Map results, Map failed, Map approval, String traceId) {
    List items = []
    List attestations = []
    for (String k : ['provenance', 'approval']) {
        for (Object it : (results[k]?.items ?: [])) {
            items.add(it)
            if (it.details?.location) {
                attestations.add(it.details.location.toString())
            }
        }
    }
    Map out = new LinkedHashMap()
    out.helper = 'release-evidence'
    out.verb = 'attestRelease'
    out.status = failed == null ? 'passed' : (failed.status ?: 'failed').toString()
    out.exit_code = failed == null ? 0 : failed.exit_code
    out.message = failed == null ? '' : "${failed.verb}: ${failed.message ?: ''}".toString()
    out.trace_id = traceId
    out.items = items
    out.attestations = attestations
    out.approvers = approval == null ? [] : approval.approvers.collect { it.approver.toString() }
    out.ledger = results.audit != null ? c.ledger : null
    out.ledgerHead = results.audit?.exit_code == 0 ? results.audit.data?.head : null
    out.resultFiles = ['provenance', 'approval', 'audit'].findAll { results[it] != null }.collect { resultFileFor(c.resultFile, it) }
    out.results = results
    return out
}

/** Returns what to archive: every result file, the blob attestations and the ledger (workspace-relative only). */
@NonCPS
List archiveList(Map c, Map combined) {
    List out = [c.resultFile]
    out.addAll(combined.resultFiles)
    out.addAll(combined.attestations.findAll { it.endsWith('.intoto.json') }) // image attestations live in the registry
    if (combined.ledger) {
        out.add(combined.ledger)
    }
    return out.findAll { !it.startsWith('/') && !it.contains(',') && !it.contains('..') }.unique()
}

/** Returns the console summary: the outcome, one line per attestation, then the ledger. */
@NonCPS
List summaryLines(Map combined) {
    List lines = ["attestRelease: ${combined.status} (trace ${combined.trace_id ?: '-'})".toString()]
    for (Object it : combined.items) {
        String d = it.details?.digest ? " ${it.details.digest}" : ''
        String loc = it.details?.location ? " -> ${it.details.location}" : ''
        lines.add("attestRelease:   ${it.kind ?: 'item'} ${it.name} ${it.status}${d}${loc}".toString())
    }
    Map audit = combined.results.audit
    if (audit != null && audit.exit_code == 0) {
        lines.add("attestRelease: ${(audit.items ?: []).size()} record(s) appended to ${combined.ledger} (head ${audit.data?.head ?: '-'})".toString())
    }
    if (combined.exit_code != 0) {
        lines.add("attestRelease: ${combined.message}".toString())
    }
    return lines
}
