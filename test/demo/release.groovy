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
        credentials['slack-bot-token'] = need('DEMO_SLACK_BOT_TOKEN')
        credentials['slack-button-secret'] = need('DEMO_BUTTON_SECRET')
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

    /** Stage approve: the real slackApproval step; each input wait is a Jenkins stand-in the relay answers. */
    void stageApprove() {
        HttpServer slack = slackStandIn(new File(demoDir, 'slack-api.jsonl'))
        env.SLACK_API_URL = "http://127.0.0.1:${slack.address.port}/api/".toString()
        int waits = 0
        inputResponse = { Map a ->
            waits++
            return waitForRelay(a, waits)
        }
        try {
            Map r = runStep('slackApproval', [channel: 'C0RELEASES', service: SERVICE, environment: 'prod', version: need('DEMO_VERSION'),
                requester: need('DEMO_REQUESTER'), relayUser: RELAY_USER, rbac: 'rbac.yaml', timeout: '10m',
                summaries: ['.release-gates/goBuildGate.json', '.release-gates/signArtifacts.json']])
            assertThat(r.decision == 'approved', "slackApproval ${r.decision}")
            println("  [jenkins] build resumed: approved by ${r.approverNames.join(' and ')} (${r.approvers.size()} of ${r.required})")
        } finally {
            slack.stop(0)
        }
    }

    /**
     * Serves one waiting input as Jenkins would: a jenkins-standin with exactly this input pending, whose accepted
     * submission (a JSON line on its stdout) becomes the input's return value, submitter included.
     */
    Map waitForRelay(Map input, int n) {
        File log = new File(demoDir, "jenkins-standin-${n}.log")
        ProcessBuilder pb = new ProcessBuilder(new File(HELPER_BIN, 'slack-approval').path, 'jenkins-standin', '--listen', need('DEMO_JENKINS_ADDR'),
            '--input', "${new URL(env.BUILD_URL.toString()).path}:${input.id}".toString(), '--result-file', new File(demoDir, "jenkins-standin-${n}.json").path)
        pb.redirectError(log)
        Process p = pb.start()
        new File(demoDir, 'jenkins-standin.pid').text = p.pid().toString()
        try {
            String[] hp = need('DEMO_JENKINS_ADDR').split(':')
            boolean up = false
            for (int i = 0; i < 200 && !up && p.alive; i++) {
                try {
                    new Socket(hp[0], hp[1] as int).close()
                    up = true
                } catch (IOException ignored) {
                    Thread.sleep(50)
                }
            }
            assertThat(up, "the Jenkins stand-in did not start: ${log.text}")
            println("  [jenkins] input '${input.id}' is waiting (${input.message})")
            new File(demoDir, "input-${n}.waiting").text = ''
            BufferedReader out = new BufferedReader(new InputStreamReader(p.inputStream, 'UTF-8'))
            Thread watchdog = Thread.startDaemon {
                try {
                    Thread.sleep(180000L)
                    p.destroy()
                } catch (InterruptedException ignored) {
                    // answered in time
                }
            }
            String line = out.readLine()
            watchdog.interrupt()
            assertThat(line != null, "no answer reached input '${input.id}' within 3 minutes")
            Map sub = new JsonSlurperClassic().parseText(line) as Map
            Map params = new LinkedHashMap(sub.Params as Map)
            println("  [jenkins] input '${sub.InputID}' answered by ${RELAY_USER} (${sub.Action}: ${params.decision} by ${params.approverName})")
            // submitterParameter: Jenkins reports the account that answered, i.e. the one the stand-in authenticated.
            params.submitter = need('JENKINS_USER')
            return params
        } finally {
            p.destroy()
            p.waitFor(10, TimeUnit.SECONDS)
        }
    }

    /** Starts a loopback Slack Web API stand-in (as in SlackApprovalRealTest) that logs each call as a JSON line. */
    static HttpServer slackStandIn(File logFile) {
        HttpServer s = HttpServer.create(new InetSocketAddress('127.0.0.1', 0), 0)
        int[] seq = [0] as int[]
        s.createContext('/api/', { HttpExchange x ->
            String method = x.requestURI.path - '/api/'
            Map params = [:]
            for (String pair : x.requestBody.getText('UTF-8').split('&')) {
                int i = pair.indexOf('=')
                if (i > 0) {
                    params[URLDecoder.decode(pair.substring(0, i), 'UTF-8')] = URLDecoder.decode(pair.substring(i + 1), 'UTF-8')
                }
            }
            String ts
            synchronized (logFile) {
                seq[0]++
                ts = params.ts ?: "1700000000.00010${seq[0]}".toString()
                logFile << JsonOutput.toJson([method: method, params: params, ts: ts]) + '\n'
            }
            byte[] out = JsonOutput.toJson([ok: true, channel: params.channel ?: 'C0RELEASES', ts: ts]).bytes
            x.responseHeaders.add('Content-Type', 'application/json')
            x.sendResponseHeaders(200, out.length)
            x.responseBody.write(out)
            x.close()
        } as HttpHandler)
        s.start()
        return s
    }

    /** Stage attest: attestRelease signs SLSA provenance and the approval as attestations on the image and chains the evidence. */
    void stageAttest() {
        Map config = [image: need('IMAGE_DIGEST_REF'), environment: 'prod', repo: need('DEMO_REPO'), module: 'example.com/orders',
            goos: 'linux', goarch: 'amd64', releaseKey: 'keys/release.key', releasePasswordCredentialsId: 'demo-key-password',
            auditKey: 'keys/audit.key', auditPasswordCredentialsId: 'demo-key-password', plainHttp: true]
        if (System.getenv('DEMO_GO_VERSION')) {
            config.goVersion = System.getenv('DEMO_GO_VERSION')
        }
        loadStep('attestRelease').call(config)
    }

    /** Stage verify: verifyRelease checks both signatures, provenance, approval and the blobs; prints the digest. */
    void stageVerify() {
        String digest = loadStep('verifyRelease').call([image: need('IMAGE_DIGEST_REF'), environment: 'prod', expectRepo: need('DEMO_REPO'),
            expectBranch: 'main', expectCommit: need('DEMO_COMMIT'), minApprovals: 2, cosignKeys: ['keys/signer.pub'], releaseKeys: ['keys/release.pub'],
            trustPolicy: 'keys/trustpolicy.json', trustStore: 'keys/truststore',
            blobs: ['dist/orders-linux-amd64': 'dist/orders-linux-amd64.sig', 'dist/SHA256SUMS': 'dist/SHA256SUMS.sig', 'svc/go.sum': 'svc/go.sum.sig'],
            index: '.release-gates/releases.jsonl', ledger: '.release-gates/audit.jsonl', auditKey: 'keys/audit.key',
            auditPasswordCredentialsId: 'demo-key-password', plainHttp: true]) { String d ->
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
