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
 * slackApproval with a recorded sh and a scripted input: the step runs the helper's request verb through the runner,
 * waits in one input outside any node, hands what the input returned to the helper's verify verb and returns its map;
 * it counts and checks nothing itself (the helper does: helpers/internal/relay step.go).
 */
class SlackApprovalTest extends PipelineTestBase {
    static final String HELPER = '/opt/rg/bin/slack-approval'
    static final String RELAY_TOKEN = 'relay-credential-never-logged-0123'
    static final Map BASE = [relayUrl: 'https://approvals.example.com', relayPublicKey: 'relay.pub', channel: 'C0RELEASE', service: 'payments',
                             environment: 'prod', version: '1.4.0']
    static final Map REQUEST = [requestId: 'f' * 32, inputId: 'Rg0123456789abcdef', submitter: 'slack-relay', deadline: '2026-12-02T10:00:00Z',
                                inputParams: ['decision', 'approvers', 'approverNames', 'requestId', 'decisionRecord'], channel: 'C0RELEASE',
                                ts: '1700000000.000100', rule: [required: 2, approvers: ['U01ALICE', 'U02BOB', 'U03CAROL']], requesters: ['U01ALICE'],
                                keyId: 'sha256:' + 'a' * 64, timeout: '24h', backstopSeconds: 86700,
                                inputMessage: 'Release payments 1.4.0 to prod: approve or reject in Slack; the approval relay answers here.']
    static final Map OUTCOME = [decision: 'approved', approvers: [[approver: 'U02BOB', approverName: 'bob', eventId: '1.1-U02BOB', at: '2026-12-01T10:00:00Z']],
                                approverNames: ['bob'], rejectedBy: [], required: 2, requestId: 'f' * 32, decisionRecord: '.release-gates/slackApproval-decision.json']
    static final Map ANSWER = [decision: 'approved', approvers: 'U02BOB,U03CAROL', approverNames: 'bob,carol', requestId: 'f' * 32,
                               decisionRecord: '{"payloadType":"application/vnd.release-gates.approval-decision+json","payload":"e30=","signatures":[]}']

    List answers = []
    List<String> verbs = []
    List<Map> secretsSeen = []
    Map<String, Integer> exitOf = [:]
    Map<String, String> messageOf = [:]
    Map<String, Map> returnsOf = [request: REQUEST, verify: OUTCOME]
    List<Long> timeouts = []
    int nodeDepth = 0
    List<Integer> inputDepths = []

    @Before
    void helperAndScriptedJenkins() {
        credentials['release-gates-relay'] = RELAY_TOKEN
        credentials['other-relay'] = RELAY_TOKEN + '-other'
        env.GIT_COMMIT = 'a' * 40
        env.BRANCH_NAME = 'main'
        env.RELEASE_TRACE_ID = 'rg-' + '1' * 32
        mockSh(/^h='slack-approval'/) { Map a -> "found ${HELPER}\n" }
        mockSh(/slack-approval' '(request|verify)'/) { Map a -> answer(a.script.toString()) }
        step('timeout') { Object[] a ->
            Map o = (Map) a[0]
            assertEquals('SECONDS', o.unit)
            timeouts.add(o.time as long)
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

    /** Records the helper call, writes the result a real helper would (returns, summary) and returns the configured status. */
    int answer(String script) {
        List words = (script.readLines()[1] =~ /'([^']*)'/).collect { it[1] }
        String verb = words[1]
        verbs.add(verb)
        secretsSeen.add(env.subMap(['RG_RELAY_TOKEN']).findAll { it.value != null })
        int status = exitOf[verb] ?: 0
        Map r = [helper: 'slack-approval', verb: verb, status: status == 0 ? 'passed' : 'failed', exit_code: status,
                 message: status == 0 ? '' : (messageOf[verb] ?: "${verb} refused".toString()), trace_id: env.RELEASE_TRACE_ID, items: [],
                 returns: returnsOf[verb], summary: ["${verb} summary line".toString()]]
        File f = file(words[words.indexOf('--result-file') + 1])
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

    Map doc(String verb) {
        return (Map) new JsonSlurperClassic().parseText(file(".release-gates/slackApproval-${verb}.params.json").text)
    }

    static String command(String verb) {
        return "mkdir -p '.release-gates' && rm -f '.release-gates/slackApproval-${verb}.json'\n" +
            "'${HELPER}' '${verb}' '--params' '.release-gates/slackApproval-${verb}.params.json' '--result-file' '.release-gates/slackApproval-${verb}.json'\n"
    }

    @Test
    void itRequestsWaitsInOneInputOutsideAnyNodeAndReturnsWhatVerifyReturned() {
        answers = [ANSWER]
        Map r = run(BASE)
        List helperSh = shCalls().findAll { it.script.toString().contains("'${HELPER}'") }
        assertEquals([command('request'), command('verify')], helperSh*.script*.toString())
        assertEquals(['slackApproval: request', 'slackApproval: verify'], helperSh*.label)
        Map req = doc('request')
        assertEquals('slackApproval', req.step)
        assertEquals(BASE, req.params)
        assertEquals([relayToken: 'RG_RELAY_TOKEN'], req.secrets)
        assertEquals(['a' * 40, 'main', 'rg-' + '1' * 32], [req.context.gitCommit, req.context.branch, req.context.traceId])
        assertFalse(req.containsKey('input'))
        Map ver = doc('verify')
        assertEquals(BASE, ver.params)
        assertEquals([:], ver.secrets)
        assertEquals([answer: ANSWER, request: REQUEST], ver.input)
        assertEquals(1, callsTo('input').size())
        Map input = callsTo('input')[0][0]
        assertEquals([REQUEST.inputId, REQUEST.submitter, REQUEST.inputMessage, 'Proceed'], [input.id, input.submitter, input.message, input.ok])
        assertEquals(REQUEST.inputParams, input.parameters*.name)
        assertEquals([86700L], timeouts)
        assertEquals([0], inputDepths)
        assertEquals(OUTCOME, r)
        assertTrue(console.toString(), console.toString().contains('request summary line') && console.toString().contains('verify summary line'))
        assertEquals([], callsTo('stash'))
        new ObjectOutputStream(new ByteArrayOutputStream()).writeObject(r)
    }

    @Test
    void itBindsTheRelayCredentialOnlyForTheRequestAndNeverPrintsIt() {
        answers = [ANSWER]
        run(BASE)
        assertEquals([[RG_RELAY_TOKEN: RELAY_TOKEN], [:]], secretsSeen)
        assertEquals([[[[$class: 'string', credentialsId: 'release-gates-relay', variable: 'RG_RELAY_TOKEN']]]], callsTo('withCredentials'))
        String everything = shCalls()*.script.join('\n') + console +
            file('.release-gates').listFiles().collect { it.text }.join()
        assertFalse(everything.contains(RELAY_TOKEN))

        callsTo('withCredentials').clear()
        secretsSeen.clear()
        answers = [ANSWER]
        run(BASE + [relayCredentialsId: 'other-relay'])
        assertEquals([[RG_RELAY_TOKEN: RELAY_TOKEN + '-other'], [:]], secretsSeen)
    }

    @Test
    void aRejectFailsTheBuildWithTheHelpersMessage() {
        answers = [ANSWER + [decision: 'rejected']]
        exitOf.verify = 1
        messageOf.verify = "the relay decided rejected (request ${'f' * 32}, by dave)".toString()
        assertEquals("slackApproval: rejected: the relay decided rejected (request ${'f' * 32}, by dave)".toString(), failureOf(BASE))
        assertEquals(['request', 'verify'], verbs)
    }

    @Test
    void anAnswerTheRelayDidNotGiveGoesToVerifyAsItCame() {
        answers = ['proceed']
        exitOf.verify = 1
        messageOf.verify = 'the input was answered without the relay\'s decision'
        assertTrue(failureOf(BASE).contains('without the relay\'s decision'))
        assertEquals([answer: 'proceed', request: REQUEST], doc('verify').input)
    }

    @Test
    void itFailsWhenTheWaitEndsWithoutAnAnswerAndVerifiesNothing() {
        answers = ['TIMEOUT']
        String msg = failureOf(BASE)
        assertEquals("slackApproval: the wait for the relay's answer ended without one (aborted or past 24h + 5m); request ${'f' * 32}".toString(), msg)
        assertEquals(['request'], verbs)
    }

    @Test
    void itDoesNotWaitWhenTheRelayRefusesTheRequest() {
        exitOf.request = 2
        assertEquals('slackApproval: bad input or configuration: request refused', failureOf(BASE))
        assertEquals([], callsTo('input'))
        assertEquals(['request'], verbs)
    }

    @Test
    void itRunsTheHelperCallsInTheAgentLabelsNodeButWaitsOutsideAnyNode() {
        answers = [ANSWER]
        run(BASE + [agentLabel: 'linux', unstash: ['keys']])
        assertEquals([['linux'], ['linux']], callsTo('node').collect { [it[0]] })
        assertEquals([0], inputDepths)
        assertEquals([['keys'], ['keys']], callsTo('unstash'))
        assertEquals([[[name: 'rg-slack-approval', includes: '.release-gates/slackApproval*.json']]], callsTo('stash'))
    }

    @Test
    void itRejectsAnUnknownKeyAWrongTypeOrAMissingRequiredKeyBeforeAnySh() {
        Map cases = [
            (BASE + [requester: 'U01ALICE'])             : "unknown parameter 'requester'",
            (BASE + [digests: 'sha256:' + 'e' * 64])     : 'digests',
            (BASE + [timeout: 24])                       : 'timeout',
            (BASE.findAll { it.key != 'service' })       : "parameter 'service' is required",
            (BASE.findAll { it.key != 'relayPublicKey' }): "parameter 'relayPublicKey' is required",
        ]
        cases.each { Map cfg, String want ->
            String msg = failureOf(cfg)
            assertTrue("${want}: ${msg}", msg.startsWith('slackApproval: ') && msg.contains(want))
        }
        assertEquals([], shCalls())
    }

    @Test
    void itValidatesTheMapBeforeItEntersTheAgentsNodeOrUnstashes() {
        assertEquals("slackApproval: parameter 'unstash' must be a List of Strings, got String 'keys' (see vars/slackApproval.txt)",
            failureOf(BASE + [agentLabel: 'l', unstash: 'keys']))
        assertEquals("slackApproval: parameter 'agentLabel' must be a String, got List [l] (see vars/slackApproval.txt)",
            failureOf(BASE + [agentLabel: ['l'], unstash: ['keys']]))
        assertEquals([], callsTo('node'))
        assertEquals([], callsTo('unstash'))
        assertEquals([], shCalls())
    }
}
