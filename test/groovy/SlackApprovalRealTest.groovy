import com.sun.net.httpserver.HttpExchange
import com.sun.net.httpserver.HttpHandler
import com.sun.net.httpserver.HttpServer
import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic
import org.junit.After
import org.junit.Before
import org.junit.BeforeClass
import org.junit.Test

import javax.crypto.Mac
import javax.crypto.spec.SecretKeySpec
import java.security.MessageDigest
import java.util.concurrent.TimeUnit

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/**
 * slackApproval with the real bin/slack-approval against a real relay process (SQLite, resources/rbac.example.yaml),
 * the Jenkins fake (helpers/internal/testing/jenkinsfake) and a loopback Slack Web API stand-in; clicks are signed
 * as Slack signs them and reach the relay while the step waits in its input.
 */
class SlackApprovalRealTest extends PipelineTestBase {
    static final String BOT_TOKEN = 'xoxb-real-test-token'
    static final String SIGNING_SECRET = 'real-test-signing-secret'
    static final String RELAY_TOKEN = 'real-test-relay-credential-0123'
    static final String JENKINS_TOKEN = 'real-test-jenkins-token'
    static File fakeBin

    HttpServer slack
    List<Map> received = []
    List<Process> procs = []
    File tmp
    String relayUrl, fakeUrl
    /** Clicks (user ids, with 'reject:' for Reject) sent once the input waits. */
    List<String> clicks = []

    @BeforeClass
    static void buildTheJenkinsFake() {
        fakeBin = File.createTempFile('jenkinsfake', '')
        Process p = new ProcessBuilder('go', 'build', '-o', fakeBin.path, './helpers/internal/testing/cmd/jenkinsfake')
            .directory(REPO).redirectErrorStream(true).start()
        String out = p.inputStream.text
        assertEquals(out, 0, p.waitFor())
    }

    /** Two distinct free loopback ports: both sockets stay open until both ports are known, so the kernel cannot hand out one port twice. */
    static List<Integer> freePorts() {
        ServerSocket a = new ServerSocket(0, 1, InetAddress.getByName('127.0.0.1'))
        ServerSocket b = new ServerSocket(0, 1, InetAddress.getByName('127.0.0.1'))
        try {
            return [a.localPort, b.localPort]
        } finally {
            a.close()
            b.close()
        }
    }

    Process start(List cmd, Map envs, File log) {
        ProcessBuilder pb = new ProcessBuilder(cmd.collect { it.toString() })
        pb.environment().putAll(envs)
        pb.redirectErrorStream(true).redirectOutput(log)
        Process p = pb.start()
        procs.add(p)
        return p
    }

    /** Polls url for up to 60 s (a loaded machine starts the relay slowly; it returns as soon as the relay is up). */
    void waitUp(String url, File log) {
        for (int i = 0; i < 1200; i++) {
            try {
                HttpURLConnection c = (HttpURLConnection) new URL(url).openConnection()
                if (c.responseCode == 200) {
                    return
                }
            } catch (IOException ignored) {
                // not yet
            }
            Thread.sleep(50)
        }
        fail("${url} did not come up: ${log.text}")
    }

    @Before
    void relayJenkinsAndSlack() {
        tmp = File.createTempDir()
        slack = HttpServer.create(new InetSocketAddress('127.0.0.1', 0), 0)
        slack.createContext('/api/', { HttpExchange x ->
            String method = x.requestURI.path - '/api/'
            String body = URLDecoder.decode(x.requestBody.getText('UTF-8'), 'UTF-8')
            synchronized (received) {
                received.add([method: method, form: body, auth: x.requestHeaders.getFirst('Authorization') ?: ''])
            }
            byte[] out = JsonOutput.toJson([ok: true, channel: 'C0RELEASE', ts: '1700000000.000100']).bytes
            x.responseHeaders.add('Content-Type', 'application/json')
            x.sendResponseHeaders(200, out.length)
            x.responseBody.write(out)
            x.close()
        } as HttpHandler)
        slack.start()
        useRealHelpers()
        String helper = new File(HELPER_BIN, 'slack-approval').path
        List<Integer> ports = freePorts()
        int fakePort = ports[0], relayPort = ports[1]
        fakeUrl = "http://127.0.0.1:${fakePort}".toString()
        relayUrl = "http://127.0.0.1:${relayPort}".toString()
        env.BUILD_URL = "${fakeUrl}/job/payments/7/".toString()
        currentBuild.absoluteUrl = env.BUILD_URL
        env.GIT_COMMIT = 'b' * 40
        env.BRANCH_NAME = 'main'
        credentials['release-gates-relay'] = RELAY_TOKEN
        File fakeLog = new File(tmp, 'fake.log')
        start([fakeBin.path, '--listen', "127.0.0.1:${fakePort}", '--user', 'slack-relay', '--build', '/job/payments/7', '--started-by', 'dave',
               '--rearm-delay', '300ms'], [JENKINS_API_TOKEN: JENKINS_TOKEN], fakeLog)
        Process kg = new ProcessBuilder(helper, 'keygen', '--out', new File(tmp, 'decision.pem').path, '--public-out', file('relay.pub').path,
            '--result-file', new File(tmp, 'keygen.json').path).redirectErrorStream(true).start()
        assertEquals(kg.inputStream.text, 0, kg.waitFor())
        String sha = MessageDigest.getInstance('SHA-256').digest(RELAY_TOKEN.bytes).encodeHex().toString()
        File cfg = new File(tmp, 'relay.yaml')
        cfg.text = """listen: 127.0.0.1:${relayPort}
mode: http
database: sqlite:${tmp.path}/relay.db
rbac: ${new File(REPO, 'resources/rbac.example.yaml').path}
audit: ${tmp.path}/audit.jsonl
decisionKey: ${tmp.path}/decision.pem
slack:
  apiURL: http://127.0.0.1:${slack.address.port}/api/
  botToken: {env: SLACK_BOT_TOKEN}
  signingSecret: {env: SLACK_SIGNING_SECRET}
controllers:
  - {name: ci, url: '${fakeUrl}/', user: slack-relay, apiToken: {env: RG_JENKINS_TOKEN}, credentialSHA256: ${sha}}
"""
        File relayLog = new File(tmp, 'relay.log')
        start([helper, 'relay', '--config', cfg.path, '--result-file', new File(tmp, 'relay.json').path],
            [SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, RG_JENKINS_TOKEN: JENKINS_TOKEN], relayLog)
        waitUp("${relayUrl}/readyz", relayLog)
        String build = '/job/payments/7'
        inputResponse = { Map input ->
            String q = "build=${enc(build)}&id=${enc(input.id)}&submitter=${enc(input.submitter)}&params=${enc(input.parameters*.name.join(','))}"
            HttpURLConnection c = (HttpURLConnection) new URL("${fakeUrl}/_fake/arm?${q}").openConnection()
            c.requestMethod = 'POST'
            assertEquals(204, c.responseCode)
            String requestId = requestIdFromSlack()
            for (String u : clicks) {
                click(u.startsWith('reject:') ? u.substring(7) : u, u.startsWith('reject:') ? 'rg_reject' : 'rg_approve', requestId)
            }
            String sub = new URL("${fakeUrl}/_fake/wait?build=${enc(build)}&id=${enc(input.id)}").getText([connectTimeout: 5000, readTimeout: 30000])
            return (new JsonSlurperClassic().parseText(sub) as Map).params
        }
    }

    @After
    void stopAll() {
        for (Process p : procs) {
            p.destroy()
            p.waitFor(10, TimeUnit.SECONDS)
        }
        slack?.stop(0)
        tmp?.deleteDir()
    }

    static String enc(Object s) {
        return URLEncoder.encode(s.toString(), 'UTF-8')
    }

    /** Returns the request id the Approve button of the posted message carries. */
    String requestIdFromSlack() {
        Map post = received.find { it.method == 'chat.postMessage' }
        assertTrue('the relay posted no message', post != null)
        java.util.regex.Matcher m = post.form =~ /"action_id":"rg_approve"[^}]*"value":"([0-9a-f]{32})"/
        assertTrue(post.form, m.find())
        return m.group(1)
    }

    /** Posts a block_actions click signed with the signing secret, as Slack does. */
    void click(String user, String actionId, String requestId) {
        String payload = JsonOutput.toJson([type: 'block_actions', user: [id: user], team: [id: 'T1'], channel: [id: 'C0RELEASE'],
            container: [message_ts: '1700000000.000100'], response_url: 'http://127.0.0.1:1/r',
            actions: [[type: 'button', block_id: 'rg_decision', action_id: actionId, value: requestId, action_ts: "${System.nanoTime()}.1".toString()]]])
        String body = 'payload=' + URLEncoder.encode(payload, 'UTF-8')
        String ts = (System.currentTimeMillis() / 1000L).toLong().toString()
        Mac mac = Mac.getInstance('HmacSHA256')
        mac.init(new SecretKeySpec(SIGNING_SECRET.bytes, 'HmacSHA256'))
        String sig = 'v0=' + mac.doFinal("v0:${ts}:${body}".toString().bytes).encodeHex().toString()
        HttpURLConnection c = (HttpURLConnection) new URL("${relayUrl}/slack/interactions").openConnection()
        c.requestMethod = 'POST'
        c.doOutput = true
        c.setRequestProperty('X-Slack-Request-Timestamp', ts)
        c.setRequestProperty('X-Slack-Signature', sig)
        c.setRequestProperty('Content-Type', 'application/x-www-form-urlencoded')
        c.outputStream.withStream { it.write(body.bytes) }
        assertEquals(200, c.responseCode)
    }

    static final Map CONFIG = [relayPublicKey: 'relay.pub', channel: 'C0RELEASE', service: 'payments', environment: 'prod', version: '2.0.0',
                               summaries: ['.release-gates/signArtifacts.json']]

    void writeSummary() {
        file('.release-gates').mkdirs()
        file('.release-gates/signArtifacts.json').text = JsonOutput.toJson([helper: 'sign-artifacts', verb: 'signArtifacts', status: 'passed',
            items: [[name: 'registry.example.com/payments:2.0.0', status: 'passed', details: [digest: 'registry.example.com/payments@sha256:' + 'e' * 64]]]])
    }

    @Test
    void itIsApprovedThroughTheRealRelayAndTheSignedDecisionVerifies() {
        writeSummary()
        clicks = ['U04DAVE', 'U01ALICE', 'U02BOB'] // dave started the build: not an approver of prod anyway; alice and bob count
        Map r = runStep('slackApproval', CONFIG + [relayUrl: relayUrl])
        assertEquals('approved', r.decision)
        assertEquals(['alice', 'bob'] as Set, r.approverNames as Set)
        assertEquals(2, r.required)
        assertEquals(['U04DAVE'], r.requesters)
        Map post = received.find { it.method == 'chat.postMessage' }
        assertTrue(post.auth + ' ' + post.form, post.auth == "Bearer ${BOT_TOKEN}".toString() || post.form.contains("token=${BOT_TOKEN}"))
        assertTrue(post.form, post.form.contains('payments') && post.form.contains('2.0.0') && post.form.contains('sha256:' + 'e' * 64))
        assertTrue('the message lost its buttons at the end', !received.findAll { it.method == 'chat.update' }.last().form.contains('rg_approve'))
        Map verify = new JsonSlurperClassic().parseText(file('.release-gates/slackApproval-verify.json').text) as Map
        assertEquals('approved', verify.data.decision)
        assertEquals(['sha256:' + 'e' * 64], verify.data.digests)
        String everything = shCalls()*.script.join('\n') + console + file('.release-gates').listFiles()*.text.join()
        assertFalse(everything.contains(RELAY_TOKEN))
    }

    @Test
    void aRejectFailsTheBuildWithTheRelaysSignedDecision() {
        clicks = ['reject:U03CAROL']
        try {
            runStep('slackApproval', CONFIG - [summaries: CONFIG.summaries] + [relayUrl: relayUrl])
            fail('expected the reject to fail the build')
        } catch (PipelineError e) {
            assertTrue(e.message, e.message.startsWith('slackApproval: rejected: the relay decided rejected (request ') && e.message.contains('carol'))
        }
        assertEquals('rejected', (new JsonSlurperClassic().parseText(file('.release-gates/slackApproval.json').text) as Map).decision)
    }

    @Test
    void aBranchTheRuleDoesNotTakeIsRefusedWithoutPosting() {
        env.BRANCH_NAME = 'feature/x'
        try {
            runStep('slackApproval', CONFIG - [summaries: CONFIG.summaries] + [relayUrl: relayUrl])
            fail('expected the branch to be refused')
        } catch (PipelineError e) {
            assertTrue(e.message, e.message.contains('branch "feature/x" may not be released to prod'))
        }
        assertEquals([], received)
    }
}
