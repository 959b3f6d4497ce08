import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException
import org.jenkinsci.plugins.workflow.steps.TimeoutStepExecution
import org.junit.Before
import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/**
 * slackApproval with a recorded sh and a scripted input: the step asks the relay (request), waits in one input outside
 * any node, verifies the relay-signed decision (verify) and returns it; it counts nothing itself.
 */
class SlackApprovalTest extends PipelineTestBase {
    static final String HELPER = '/opt/rg/bin/slack-approval'
    static final String RELAY_TOKEN = 'relay-credential-never-logged-0123'
    static final Map BASE = [relayUrl: 'https://approvals.example.com', relayPublicKey: 'relay.pub', channel: 'C0RELEASE', service: 'payments',
                             environment: 'prod', version: '1.4.0']
    static final Map REQUEST = [requestId: 'f' * 32, inputId: 'Rg0123456789abcdef', submitter: 'slack-relay', deadline: '2026-12-02T10:00:00Z',
                                inputParams: ['decision', 'approvers', 'approverNames', 'requestId', 'decisionRecord'], channel: 'C0RELEASE',
                                ts: '1700000000.000100', rule: [required: 2, approvers: ['U01ALICE', 'U02BOB', 'U03CAROL']], requesters: ['U01ALICE'],
                                keyId: 'sha256:' + 'a' * 64]
    static final Map VERIFIED = [decision: 'approved', requestId: 'f' * 32, traceId: 'rg-' + '1' * 32, requesters: ['U01ALICE'],
                                 approvers: [[slackId: 'U02BOB', name: 'bob', decision: 'approve', eventId: '1.1-U02BOB', at: '2026-12-01T10:00:00Z'],
                                             [slackId: 'U03CAROL', name: 'carol', decision: 'approve', eventId: '1.1-U03CAROL', at: '2026-12-01T10:00:00Z']]]
    static final Map ANSWER = [decision: 'approved', approvers: 'U02BOB,U03CAROL', approverNames: 'bob,carol', requestId: 'f' * 32,
                               decisionRecord: '{"payloadType":"application/vnd.release-gates.approval-decision+json","payload":"e30=","signatures":[]}']

    List answers = []
    List<List> helperCalls = []
    List<Map> secretsSeen = []
    Map<String, Integer> exitOf = [:]
    Map<String, Map> dataOf = [request: REQUEST, verify: VERIFIED]
    List<Integer> timeouts = []
    int nodeDepth = 0
    List<Integer> inputDepths = []

    @Before
    void helperAndScriptedJenkins() {
        credentials['release-gates-relay'] = RELAY_TOKEN
        env.GIT_COMMIT = 'a' * 40
        env.BRANCH_NAME = 'main'
        env.RELEASE_TRACE_ID = 'rg-' + '1' * 32
        mockSh(/^h='slack-approval'/) { Map a -> "found ${HELPER}\n" }
        mockSh(/slack-approval' '(request|verify)'/) { Map a -> answer(a.script.toString()) }
        step('timeout') { Object[] a ->
            Map o = (Map) a[0]
            assertEquals('SECONDS', o.unit)
            timeouts.add((int) o.time)
            if (!answers.isEmpty() && answers[0] == 'TIMEOUT') {
                answers.remove(0)
                throw new FlowInterruptedException('ABORTED', new TimeoutStepExecution.ExceededTimeout())
            }
            ((Closure) a[1]).call()
        }
        step('node') { Object[] a ->
            nodeDepth++
            try {
                ((Closure) a[1]).call()
            } finally {
                nodeDepth--
            }
        }
        inputResponse = { Map a ->
            inputDepths.add(nodeDepth)
            assertFalse('more input steps than scripted answers', answers.isEmpty())
            return answers.remove(0)
        }
    }

    /** Records the helper call, writes the result a real helper would and returns the configured status. */
    int answer(String script) {
        String line = script.readLines()[1]
        List words = (line =~ /'([^']*)'/).collect { it[1] }
        int at = words.indexOf('--result-file')
        String verb = words[1]
        helperCalls.add([verb, words.subList(2, at)])
        secretsSeen.add(env.subMap(['RG_RELAY_TOKEN']).findAll { it.value != null })
        int status = exitOf[verb] ?: 0
        Map r = [helper: 'slack-approval', verb: verb, status: status == 0 ? 'passed' : 'failed', exit_code: status,
                 message: status == 0 ? '' : "${verb} refused".toString(), trace_id: env.RELEASE_TRACE_ID, items: [], data: dataOf[verb]]
        File f = file(words[at + 1])
        f.parentFile.mkdirs()
        f.text = JsonOutput.toJson(r)
        return status
    }

    Map run(Map config) {
        return (Map) runStep('slackApproval', config)
    }

    String failureOf(Map config) {
        try {
            run(config)
        } catch (PipelineError e) {
            return e.message
        }
        fail('expected slackApproval to fail')
    }

    List argsOf(String verb) {
        return helperCalls.find { it[0] == verb }[1]
    }

    @Test
    void itAsksTheRelayWaitsInOneInputOutsideAnyNodeAndReturnsTheVerifiedDecision() {
        answers = [ANSWER]
        Map r = run(BASE)
        assertEquals(['request', 'verify'], helperCalls.collect { it[0] })
        Map doc = new JsonSlurperClassic().parseText(file('.release-gates/slackApproval-request.params.json').text)
        assertEquals('slackApproval', doc.step)
        assertEquals([relayUrl: 'https://approvals.example.com', relayPublicKey: 'relay.pub', service: 'payments', environment: 'prod',
                      version: '1.4.0', channel: 'C0RELEASE'], doc.params.subMap(['relayUrl', 'relayPublicKey', 'service', 'environment', 'version', 'channel']))
        assertEquals([buildUrl: env.BUILD_URL, traceId: 'rg-' + '1' * 32, gitCommit: 'a' * 40, branch: 'main'], doc.context)
        assertEquals([relayToken: 'RG_RELAY_TOKEN'], doc.secrets)
        assertFalse('the step must not send the requester: the relay derives it', doc.params.containsKey('requester'))
        Map input = callsTo('input')[0][0]
        assertEquals('Rg0123456789abcdef', input.id)
        assertEquals('slack-relay', input.submitter)
        assertEquals(REQUEST.inputParams, input.parameters*.name)
        assertEquals(1, callsTo('input').size())
        assertEquals([86400 + 300], timeouts)
        assertEquals([0], inputDepths)
        assertEquals(['--record', '.release-gates/slackApproval-decision.json', '--public-key', 'relay.pub', '--request-id', 'f' * 32,
                      '--service', 'payments', '--environment', 'prod'], argsOf('verify'))
        assertEquals(ANSWER.decisionRecord, file('.release-gates/slackApproval-decision.json').text)
        assertEquals([decision: 'approved', approverNames: ['bob', 'carol'], required: 2, requestId: 'f' * 32, requesters: ['U01ALICE']],
            r.subMap(['decision', 'approverNames', 'required', 'requestId', 'requesters']))
        new ObjectOutputStream(new ByteArrayOutputStream()).writeObject(r)
        assertEquals(r, new JsonSlurperClassic().parseText(file('.release-gates/slackApproval.json').text))
    }

    @Test
    void itBindsTheRelayCredentialOnlyForTheRequestAndNeverPrintsIt() {
        answers = [ANSWER]
        run(BASE + [relayCredentialsId: 'release-gates-relay'])
        assertEquals([[RG_RELAY_TOKEN: RELAY_TOKEN], [:]], secretsSeen)
        assertEquals([[[[$class: 'string', credentialsId: 'release-gates-relay', variable: 'RG_RELAY_TOKEN']]]], callsTo('withCredentials'))
        String everything = shCalls()*.script.join('\n') + console + workspace.listFiles().collect { it.isDirectory() ? it.listFiles()*.text.join() : it.text }.join()
        assertFalse(everything.contains(RELAY_TOKEN))
    }

    @Test
    void itFailsWithTheRelaysDecisionWhenRejectedOrExpired() {
        for (String d : ['rejected', 'expired']) {
            helperCalls.clear()
            answers = [ANSWER + [decision: d]]
            exitOf.verify = 1
            dataOf.verify = VERIFIED + [decision: d, approvers: VERIFIED.approvers + [[slackId: 'U04DAVE', name: 'dave', decision: 'reject']]]
            String msg = failureOf(BASE)
            assertTrue(msg, msg.startsWith("slackApproval: ${d} (request ${'f' * 32}".toString()))
            assertEquals(d == 'rejected', msg.contains('by dave'))
            assertEquals(d, new JsonSlurperClassic().parseText(file('.release-gates/slackApproval.json').text).decision)
        }
    }

    @Test
    void itFailsWhenTheDecisionRecordDoesNotVerify() {
        answers = [ANSWER]
        exitOf.verify = 1
        dataOf.verify = [:]
        String msg = failureOf(BASE)
        assertTrue(msg, msg.startsWith('slackApproval: ') && msg.contains('verify refused'))
    }

    @Test
    void itRefusesAnAnswerThatDidNotComeFromTheRelay() {
        answers = [[decision: 'approved', approvers: 'U02BOB'], ANSWER + [requestId: 'e' * 32]]
        assertTrue(failureOf(BASE).contains('without the relay\'s decision'))
        assertTrue(failureOf(BASE).contains('without the relay\'s decision'))
        assertEquals(['request', 'request'], helperCalls.collect { it[0] })
    }

    @Test
    void itFailsWhenTheWaitEndsWithoutAnAnswer() {
        answers = ['TIMEOUT']
        assertTrue(failureOf(BASE).contains('ended without one'))
    }

    @Test
    void itFailsWhenTheRelayRefusesTheRequest() {
        exitOf.request = 2
        String msg = failureOf(BASE)
        assertTrue(msg, msg.startsWith('slackApproval: ') && msg.contains('request refused'))
        assertEquals([], callsTo('input'))
    }

    @Test
    void itRunsTheHelperCallsInTheAgentLabelsNodeButWaitsOutsideAnyNode() {
        answers = [ANSWER]
        run(BASE + [agentLabel: 'linux', unstash: ['keys']])
        assertEquals(2, callsTo('node').size())
        assertEquals([0], inputDepths)
        assertEquals([['keys'], ['keys']], callsTo('unstash'))
    }

    @Test
    void itRejectsBadParametersBeforeRunningAnything() {
        Map cases = [
            (BASE + [requester: 'U01ALICE'])          : 'requester',
            (BASE.findAll { it.key != 'service' })    : 'service',
            (BASE.findAll { it.key != 'relayUrl' })   : 'relayUrl',
            (BASE + [timeout: 'soon'])                : 'timeout',
            (BASE.findAll { it.key != 'relayPublicKey' }): 'relayPublicKey',
        ]
        cases.each { Map cfg, String key ->
            String msg = failureOf(cfg)
            assertTrue("${key}: ${msg}", msg.startsWith('slackApproval: ') && msg.contains(key))
        }
        assertEquals([], helperCalls)
    }
}
