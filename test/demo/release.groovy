// The demo's "Jenkins job": runs the real vars steps (goBuildGate, signArtifacts, slackApproval, attestRelease, verifyRelease) in the
// Groovy step harness (test/groovy/PipelineTestBase) with real sh and the real helpers, one stage per call:
//   groovy -cp src:test/groovy:test/groovy/stubs:<junit jars> test/demo/release.groovy gate|sign|approve|attest|verify|summary
// test/demo/release.sh sets the environment (DEMO_WS, DEMO_DIR, IMAGE, secrets ...) and runs the stages in order.
import com.sun.net.httpserver.HttpExchange
import com.sun.net.httpserver.HttpHandler
import com.sun.net.httpserver.HttpServer
import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic

import java.util.concurrent.TimeUnit

/** ReleaseDemo is one build of the example service's release job, run stage by stage in a shared workspace. */
class ReleaseDemo extends PipelineTestBase {
    static final String SERVICE = 'orders'
    static final String RELAY_USER = 'slack-relay'
    File demoDir

    static String need(String name) {
        String v = System.getenv(name)
        if (!v) {
            throw new IllegalStateException("release.groovy: ${name} is not set (run test/demo/demo.sh)")
        }
        return v
    }

    /** Sets up the harness on the demo's shared workspace with the real helpers and the job's environment. */
    void start() {
        setUpPipeline()
        workspace.deleteDir()
        workspace = new File(need('DEMO_WS')).canonicalFile
        demoDir = new File(need('DEMO_DIR'))
        useRealHelpers()
        String jobUrl = need('DEMO_JOB_URL')
        env.WORKSPACE = workspace.path
        env.JOB_URL = jobUrl
        env.BUILD_URL = jobUrl + '7/'
        currentBuild.absoluteUrl = env.BUILD_URL
        env.RELEASE_TRACE_ID = need('RELEASE_TRACE_ID')
        env.GIT_COMMIT = need('DEMO_COMMIT')
        env.BRANCH_NAME = 'main'
        credentials['demo-key-password'] = need('DEMO_KEY_PASSWORD')
        // The console streams: echo lines and sh labels as they happen, like Jenkins' console.
        step('echo') { Object[] a ->
            console.append(a[0]).append('\n')
            println("  [jenkins] ${a[0]}")
            null
        }
    }

    @Override
    protected Object sh(Map a) {
        if (a.label) {
            println("  [jenkins] [sh: ${a.label}]")
        }
        return super.sh(a)
    }

    /** Runs sh for real; prints the helper's progress lines (stderr without the sh -x trace) under the label. */
    @Override
    protected List runReal(String script) {
        List r = super.runReal(script)
        for (String line : r[2].toString().readLines()) {
            if (!line.startsWith('+ ') && line.trim()) {
                println("  [jenkins]     ${line}")
            }
        }
        return r
    }

    /** Returns the message of the PipelineError body throws, or null when it passes. */
    static String failureOf(Closure body) {
        try {
            body.call()
        } catch (PipelineError e) {
            return e.message
        }
        return null
    }

    Map gate(String spec) {
        return [dir: 'svc', spec: spec, baseSpec: 'docs/v1/swagger.json', smokeCommand: './orders', smokeEnv: [PORT: need('DEMO_SMOKE_PORT')],
                healthUrl: "http://127.0.0.1:${need('DEMO_SMOKE_PORT')}/healthz".toString(), deadline: '30s', expectBody: [status: 'ok']]
    }

    /** Stage gate: the release job's own goBuildGate (v1 -> v2-compatible, all three checks); its result travels on. */
    void stageGate() {
        Map ok = runStep('goBuildGate', gate('docs/v2-compatible/swagger.json'))
        assertThat(ok.status == 'passed', "goBuildGate ${ok.status}")
    }

    /** Stage sign: the binary, go.sum and a SHA256SUMS, and the image by digest with cosign and notation, then verified. */
    void stageSign() {
        Map r = runStep('signArtifacts', [files: ['dist/orders-linux-amd64', 'svc/go.sum'], checksums: 'dist/SHA256SUMS',
            expectPlatform: 'linux/amd64', images: [need('IMAGE')], key: 'keys/signer.key', passwordCredentialsId: 'demo-key-password',
            certChain: 'keys/pki/chain.pem', plainHttp: true, trustPolicy: 'keys/trustpolicy.json', trustStore: 'keys/truststore'])
        assertThat(r.status == 'passed', "signArtifacts ${r.status}")
    }

    /**
     * Stage approve: the real slackApproval step asks the real relay (test/demo/release.sh started it, with the Slack
     * stand-in and the Jenkins fake); its one input is armed on the fake when the step reaches it, and the fake's accepted
     * submission (from the relay, as slack-relay) is the input's return value.
     */
    void stageApprove() {
        credentials['release-gates-relay'] = need('DEMO_RELAY_TOKEN')
        String fake = "http://${need('DEMO_JENKINS_ADDR')}".toString()
        String build = new URL(env.BUILD_URL.toString()).path.replaceAll('/$', '')
        inputResponse = { Map input ->
            List names = input.parameters*.name
            String q = "build=${enc(build)}&id=${enc(input.id)}&submitter=${enc(input.submitter)}&params=${enc(names.join(','))}&message=${enc(input.message)}"
            post("${fake}/_fake/arm?${q}")
            println("  [jenkins] input '${input.id}' is waiting (submitter ${input.submitter}; the pipeline took the fake's re-arm delay to get here)")
            new File(demoDir, 'input.waiting').text = input.id
            Map sub = new JsonSlurperClassic().parseText(new URL("${fake}/_fake/wait?build=${enc(build)}&id=${enc(input.id)}").getText(
                [connectTimeout: 5000, readTimeout: 600000])) as Map
            println("  [jenkins] input '${sub.inputId}' answered by ${sub.user}: decision=${sub.params.decision} approvers=${sub.params.approverNames}")
            return sub.params
        }
        Map r = runStep('slackApproval', [relayUrl: need('DEMO_RELAY_URL'), relayPublicKey: 'keys/relay.pub', channel: 'C0RELEASES', service: SERVICE,
            environment: 'prod', version: need('DEMO_VERSION'), timeout: '10m',
            summaries: ['.release-gates/goBuildGate.json', '.release-gates/signArtifacts.json']])
        assertThat(r.decision == 'approved', "slackApproval ${r.decision}")
        println("  [jenkins] build resumed: approved by ${r.approverNames.join(' and ')} (${r.approvers.size()} of ${r.required}); " +
            "relay-signed decision verified (${r.decisionRecord})")
    }

    static String enc(Object s) {
        return URLEncoder.encode(s.toString(), 'UTF-8')
    }

    static void post(String u) {
        HttpURLConnection c = (HttpURLConnection) new URL(u).openConnection()
        c.requestMethod = 'POST'
        c.doOutput = true
        c.outputStream.close()
        assertThat(c.responseCode == 204, "the Jenkins fake refused ${u}: HTTP ${c.responseCode}")
    }

    /** Stage attest: attestRelease signs SLSA provenance and the approval as attestations on the image and chains the evidence. */
    void stageAttest() {
        Map config = [image: need('IMAGE_DIGEST_REF'), environment: 'prod', repo: need('DEMO_REPO'), module: 'example.com/orders',
            goos: 'linux', goarch: 'amd64', releaseKey: 'keys/release.key', releasePasswordCredentialsId: 'demo-key-password', relayPublicKey: 'keys/relay.pub',
            auditKey: 'keys/audit.key', auditPasswordCredentialsId: 'demo-key-password', plainHttp: true]
        if (System.getenv('DEMO_GO_VERSION')) {
            config.goVersion = System.getenv('DEMO_GO_VERSION')
        }
        refuseForgedApproval(config)
        loadStep('attestRelease').call(config)
    }

    /**
     * Edits the relay-signed decision record (adds eve as an approver, keeps the relay's signature) and points a copy of
     * slackApproval's result at it: attestRelease must refuse it (exit 1) before signing anything.
     */
    void refuseForgedApproval(Map config) {
        Map approval = new JsonSlurperClassic().parseText(file('.release-gates/slackApproval.json').text) as Map
        Map env = new JsonSlurperClassic().parseText(file(approval.decisionRecord.toString()).text) as Map
        String body = new String(env.payload.toString().decodeBase64(), 'UTF-8')
        String forged = body.replace('"approvers":[', '"approvers":[{"slackId":"U09EVE","name":"eve","decision":"approve","eventId":"1.0-U09EVE","at":"2026-01-01T00:00:00Z"},')
        assertThat(forged != body, 'the decision record lists no approvers to add to')
        env.payload = forged.bytes.encodeBase64().toString()
        file('.release-gates/forged-decision.json').text = JsonOutput.toJson(env)
        approval.decisionRecord = '.release-gates/forged-decision.json'
        file('.release-gates/slackApproval-forged.json').text = JsonOutput.toJson(approval)
        String msg = failureOf {
            loadStep('attestRelease').call(config + [approval: '.release-gates/slackApproval-forged.json', resultFile: '.release-gates/attestRelease-forged.json'])
        }
        assertThat(msg != null && msg.contains('rejected') && msg.contains('signature does not verify'), "a forged decision record was not refused: ${msg}")
        println("  [jenkins] a decision record edited to add eve is refused: ${msg.readLines()[0]}")
    }

    /**
     * A copy of the ledger with its last record cut off, passed without ledgerHead: verifyRelease must refuse it (exit 1)
     * against the ledger checkpoint attestRelease attached to the image.
     */
    void refuseCutLedger(Map config) {
        List<String> lines = file('.release-gates/audit.jsonl').readLines()
        assertThat(lines.size() > 1, "the ledger has ${lines.size()} record(s): nothing to cut")
        file('.release-gates/audit-cut.jsonl').text = lines.subList(0, lines.size() - 1).join('\n') + '\n'
        Map cut = config.findAll { k, v -> !(k in ['index', 'vsaKey', 'vsaPasswordCredentialsId']) }
        String msg = failureOf {
            loadStep('verifyRelease').call(cut + [ledger: '.release-gates/audit-cut.jsonl', resultFile: '.release-gates/verifyRelease-cut.json']) { String d -> }
        }
        assertThat(msg != null && msg.contains('rejected') && msg.contains('records were cut off the end'), "a ledger cut before its checkpoint was not refused: ${msg}")
        println("  [jenkins] a ledger with its last record cut off is refused: ${msg.readLines()[0].take(160)}...")
    }

    /** Stage verify: verifyRelease checks both signatures, provenance, approval, the blobs and the ledger; prints the digest. */
    void stageVerify() {
        Map config = [image: need('IMAGE_DIGEST_REF'), environment: 'prod', expectRepo: need('DEMO_REPO'),
            expectBranch: 'main', expectCommit: need('DEMO_COMMIT'), minApprovals: 2, cosignKeys: ['keys/signer.pub'], releaseKeys: ['keys/release.pub'],
            trustPolicy: 'keys/trustpolicy.json', trustStore: 'keys/truststore',
            blobs: ['dist/orders-linux-amd64': 'dist/orders-linux-amd64.sig', 'dist/SHA256SUMS': 'dist/SHA256SUMS.sig', 'svc/go.sum': 'svc/go.sum.sig'],
            relayPublicKeys: ['keys/relay.pub'], vsaKey: 'keys/vsa.key', vsaPasswordCredentialsId: 'demo-key-password',
            index: '.release-gates/releases.jsonl', ledger: '.release-gates/audit.jsonl', auditKey: 'keys/audit.key',
            auditPasswordCredentialsId: 'demo-key-password', plainHttp: true]
        refuseCutLedger(config)
        String digest = loadStep('verifyRelease').call(config) { String d ->
            println("  [jenkins] deploy would run: kubectl set image deploy/orders orders=${d}")
        }
        file('.release-gates/verified-digest.txt').text = digest
    }

    /** Stage summary: one table of what happened, read from the result files the steps and helpers wrote. */
    void stageSummary() {
        Closure json = { String p -> file(p).exists() ? new JsonSlurperClassic().parseText(file(p).text) as Map : [:] }
        Closure lines = { String p -> file(p).exists() ? file(p).readLines().collect { new JsonSlurperClassic().parseText(it) as Map } : [] }
        Map gate = json('.release-gates/goBuildGate.json')
        Map signed = json('.release-gates/signArtifacts.json')
        Map approval = json('.release-gates/slackApproval.json')
        Map verified = json('.release-gates/verifyRelease.json')
        Map ledger = json('.release-gates/audit-verify.json')
        Map provenance = json('.release-gates/attestRelease-provenance.json')
        List rows = []
        rows << ['trace id', '', env.RELEASE_TRACE_ID]
        rows << ['goBuildGate', gate.status, (gate.items ?: []).collect { it.name }.join(', ') + ' (API v1 -> v2-compatible)']
        Map revocation = (verified.items ?: []).find { it.name == 'revocation' } ?: [:]
        for (Map it : (signed.items ?: [])) {
            Map d = it.details ?: [:]
            if (it.kind == 'image') {
                rows << ['signed image', it.status, "cosign + notation (${d.notation?.media_type == 'application/cose' ? 'COSE' : 'JWS'}) by digest, " +
                    "verified with key ${(revocation.details?.cosign_key_ids ?: []).join(', ')} and the notation trust policy".toString()]
            } else {
                rows << ["signed ${it.kind}".toString(), it.status, "${it.name} sha256:${d.sha256?.take(16)}... key ${d.key_id}".toString()]
            }
        }
        List names = approval.approverNames ?: []
        rows << ['approval (prod)', approval.decision, "${names.join(' + ')} (${approval.approvers?.size()} of ${approval.required} required, four-eyes)".toString()]
        for (Map d : lines('.release-gates/relay-audit.jsonl').findAll { it.event == 'denied' }) {
            rows << ['denied click', 'denied', "${d.user}: ${d.reason}".toString()]
        }
        Map att = (provenance.items ?: [[:]])[0] as Map
        rows << ['attestations', att.status, "SLSA provenance + approval attached to the image, release key ${att.details?.key_id}".toString()]
        rows << ['verifyRelease', verified.status, (verified.items ?: []).collect { it.name }.join(', ')]
        Map vsa = (verified.returns ?: [:]).vsa ?: [:]
        rows << ['VSA', vsa.ref ? 'attached' : 'none', vsa.ref ? "${vsa.digest} (verifier key ${vsa.key_id}), on ${vsa.ref}".toString() : '-']
        rows << ['verified digest', '', file('.release-gates/verified-digest.txt').exists() ? file('.release-gates/verified-digest.txt').text : '(none)']
        rows << ['audit ledger', ledger.status, "${ledger.data?.records} signed, hash-chained records, head ${ledger.data?.head?.take(16)}...".toString()]
        rows << ['release report', '', need('DEMO_REPORT')]
        String rule = '-' * 120
        println(rule)
        for (List r : rows) {
            println("  ${r[0].toString().padRight(16)} ${(r[1] ?: '').toString().padRight(9)} ${r[2]}")
        }
        println(rule)
    }

    static void assertThat(boolean ok, Object what) {
        if (!ok) {
            throw new PipelineError("demo: ${what}")
        }
    }
}

String stage = args ? args[0] : ''
ReleaseDemo p = new ReleaseDemo()
p.start()
try {
    switch (stage) {
        case 'gate': p.stageGate(); break
        case 'sign': p.stageSign(); break
        case 'approve': p.stageApprove(); break
        case 'attest': p.stageAttest(); break
        case 'verify': p.stageVerify(); break
        case 'summary': p.stageSummary(); break
        default: throw new IllegalArgumentException("release.groovy: unknown stage '${stage}': use gate, sign, approve, attest, verify or summary")
    }
} catch (PipelineError e) {
    System.err.println("  [jenkins] FAILED: ${e.message}")
    System.exit(1)
}
System.exit(0)
