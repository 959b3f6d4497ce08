import com.sun.net.httpserver.HttpExchange
import com.sun.net.httpserver.HttpHandler
import com.sun.net.httpserver.HttpServer
import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException
import org.jenkinsci.plugins.workflow.steps.TimeoutStepExecution
import org.junit.After
import org.junit.Before
import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/**
 * slackApproval driving the real bin/slack-approval (rule on the example rbac.yaml, request, audit record, update)
 * against a loopback Slack Web API stand-in, with scripted input answers.
 */
class SlackApprovalRealTest extends PipelineTestBase {
    static final String BOT_TOKEN = 'xoxb-real-test-token'
    static final String BUTTON_SECRET = 'real-test-button-secret-0123456789abcdef'
    HttpServer slack
    /** Slack API calls received: [method: 'chat.postMessage', form: 'decoded body', auth: 'Authorization header']. */
    List<Map> received = []
    List answers = []

    @Before
    void slackStandInAndRealHelpers() {
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
        env.SLACK_API_URL = "http://127.0.0.1:${slack.address.port}/api/".toString()
        env.GIT_COMMIT = 'b' * 40
        env.BRANCH_NAME = 'main'
        credentials['slack-bot-token'] = BOT_TOKEN
        credentials['slack-button-secret'] = BUTTON_SECRET
        file('rbac.yaml').text = new File(REPO, 'resources/rbac.example.yaml').text
        inputResponse = { Map a -> answers.remove(0) }
        step('timeout') { Object[] a ->
            if (answers && answers[0] == 'TIMEOUT') {
                answers.remove(0)
                throw new FlowInterruptedException('ABORTED', new TimeoutStepExecution.ExceededTimeout())
            }
            ((Closure) a[1]).call()
        }
    }

    @After
    void stopSlack() {
        slack?.stop(0)
    }

    static Map click(String user, String name) {
        return [approver: user, approverName: name, eventId: "1700000001.1-${user}".toString(), decision: 'approve',
                comment: "approved via Slack by ${name} (${user})".toString(), traceId: '', submitter: 'slack-relay']
    }

    static final Map CONFIG = [channel: 'C0RELEASE', service: 'payments', environment: 'prod', version: '2.0.0', requester: 'U04DAVE',
                               relayUser: 'slack-relay', summaries: ['.release-gates/signArtifacts.json']]

    void writeSummary() {
        file('.release-gates').mkdirs()
        file('.release-gates/signArtifacts.json').text = JsonOutput.toJson([helper: 'sign-artifacts', verb: 'signArtifacts', status: 'passed',
            items: [[name: 'registry.example.com/payments:2.0.0', status: 'passed', details: [digest: 'sha256:' + 'e' * 64]]]])
    }

    List<Map> auditLines() {
        return file('.release-gates/approval-audit.jsonl').readLines().collect { new JsonSlurperClassic().parseText(it) as Map }
    }

    @Test
    void itPostsTheRealMessageCollectsTwoApprovalsAndUpdatesSlackAndTheAuditLog() {
        writeSummary()
        answers = [click('U01ALICE', 'alice'), click('U01ALICE', 'alice'), click('U02BOB', 'bob')]
        Map r = runStep('slackApproval', CONFIG)
        assertEquals('approved', r.decision)
        assertEquals(['alice', 'bob'], r.approverNames)
        assertEquals(2, r.required)
        assertEquals(['chat.postMessage', 'chat.update'], received*.method)
        Map post = received[0]
        assertTrue(post.auth + ' ' + post.form, post.auth == "Bearer ${BOT_TOKEN}".toString() || post.form.contains("token=${BOT_TOKEN}"))
        assertTrue(post.form, post.form.contains('payments') && post.form.contains('2.0.0') && post.form.contains('sha256:' + 'e' * 64))
        assertTrue(received[1].form, received[1].form.contains('1700000000.000100'))
        assertEquals(['request', 'approved', 'approved'], auditLines()*.event)
        assertEquals(['U04DAVE', 'U01ALICE', 'U02BOB'], auditLines()*.user)
        assertEquals([r.traceId] * 3, auditLines()*.trace_id)
        String everything = shCalls()*.script.join('\n') + console + file('.release-gates').listFiles()*.text.join()
        assertFalse(everything.contains(BOT_TOKEN))
        assertFalse(everything.contains(BUTTON_SECRET))
    }

    @Test
    void itRecordsTheExpiryWithTheRealHelperAndAbortsTheBuild() {
        answers = ['TIMEOUT']
        try {
            runStep('slackApproval', CONFIG - [summaries: CONFIG.summaries] + [timeout: '1h'])
            fail('expected the approval to expire')
        } catch (PipelineError e) {
            assertEquals('slackApproval: approval expired after 1h (0 of 2 approvals)', e.message)
        }
        assertEquals('ABORTED', currentBuild.result)
        assertEquals(['request', 'expired'], auditLines()*.event)
        assertEquals(['chat.postMessage', 'chat.update'], received*.method)
        assertTrue(received[1].form.toLowerCase().contains('expired'))
    }

    @Test
    void itRefusesABranchTheRuleDoesNotAllowWithoutPosting() {
        env.BRANCH_NAME = 'feature/x'
        try {
            runStep('slackApproval', CONFIG - [summaries: CONFIG.summaries])
            fail('expected the branch to be refused')
        } catch (PipelineError e) {
            assertEquals('slackApproval: rejected: branch "feature/x" may not be released to prod (allowed: main)', e.message)
        }
        assertEquals([], received)
    }
}
