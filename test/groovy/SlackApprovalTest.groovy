import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic
import jenkins.model.CauseOfInterruption
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException
import org.jenkinsci.plugins.workflow.steps.TimeoutStepExecution
import org.junit.Before
import org.junit.Test

import java.util.regex.Matcher

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertNull
import static org.junit.Assert.assertSame
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/**
 * slackApproval with a recorded sh and scripted input answers: every path of the wait loop (1 of 1, N of M with a
 * duplicate, self-approval, reject, escalation, expiry, a Jenkins abort), the exact helper calls and the secrets' bindings.
 */
class SlackApprovalTest extends PipelineTestBase {
    static final String HELPER = '/opt/rg/bin/slack-approval'
    static final String BOT_TOKEN = 'xoxb-never-logged-0000'
    static final String BUTTON_SECRET = 'button-secret-never-logged-0123456789abcdef'
    /** An element of answers that makes the next timeout expire instead of running its body. */
    static final Object TIMEOUT = new Object()
    static final Map BASE = [channel: 'C0RELEASE', service: 'payments', environment: 'prod', version: '1.4.0', requester: 'U09REQ',
                             relayUser: 'slack-relay']

    /** The approval rule slack-approval rule answers with. */
    Map rule = [required: 1, allowSelfApproval: false, escalationGroup: 'S01RELEASE', branches: ['main']]
    /** What the input steps answer, in order: a Map of parameters, TIMEOUT, or a Throwable to throw. */
    List answers = []
    /** Helper calls as [verb, [args...]] in order, and the secrets each saw. */
    List<List> helperCalls = []
    List<Map> secretsSeen = []
    /** Seconds asked of every timeout step, the fake clock in ms, and how deep in node blocks the current call is. */
    List<Integer> timeouts = []
    long clock = 1_000_000L
    int nodeDepth = 0
    List<Integer> inputDepths = []
    Map<String, Integer> exitOf = [:]

    @Before
    void helperAndScriptedJenkins() {
        credentials['slack-bot-token'] = BOT_TOKEN
        credentials['slack-button-secret'] = BUTTON_SECRET
        env.GIT_COMMIT = 'a' * 40
        env.BRANCH_NAME = 'main'
        env.RELEASE_TRACE_ID = 'rg-' + '1' * 32
        mockSh(/^h='slack-approval'/) { Map a -> "found ${HELPER}\n" }
        mockSh(/slack-approval' '(rule|request|update|escalate|audit)'/) { Map a -> answer(a.script.toString()) }
        step('timeout') { Object[] a ->
            Map o = (Map) a[0]
            assertEquals('SECONDS', o.unit)
            timeouts.add((int) o.time)
            if (!answers.isEmpty() && answers[0].is(TIMEOUT)) {
                answers.remove(0)
                clock += 1000L * (int) o.time
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
            Object next = answers.remove(0)
            if (next instanceof Throwable) {
                throw (Throwable) next
            }
            return next
        }
    }

    /** Records the helper call, writes the result a real helper would write and returns the configured status. */
    int answer(String script) {
        String line = script.readLines()[1]
        List words = (line =~ /'([^']*)'/).collect { it[1] }
        int at = words.indexOf('--result-file')
        String verb = words[1] == 'audit' ? 'audit record' : words[1]
        List args = words.subList(verb == 'audit record' ? 3 : 2, at)
        helperCalls.add([verb, args])
        secretsSeen.add(env.subMap(['SLACK_BOT_TOKEN', 'RG_BUTTON_SECRET']).findAll { it.value != null })
        int status = exitOf[verb] ?: 0
        Map data = [:]
        if (verb == 'rule') {
            data = [rule: rule]
        } else if (verb == 'request') {
            data = [channel: 'C0RELEASE', ts: '1700000000.000100']
        }
        Map r = [helper: 'slack-approval', verb: verb, status: status == 0 ? 'passed' : 'failed', exit_code: status,
                 message: status == 0 ? '' : "${verb} refused".toString(), trace_id: env.RELEASE_TRACE_ID, items: [], data: data]
        File f = file(words[at + 1])
        f.parentFile.mkdirs()
        f.text = JsonOutput.toJson(r)
        return status
    }

    static Map click(String user, String name, String decision = 'approve', String comment = null) {
        return [approver: user, approverName: name, eventId: "1700000001.1-${user}".toString(), decision: decision,
                comment: comment ?: "${decision == 'approve' ? 'approved' : 'rejected'} via Slack by ${name} (${user})".toString(),
                traceId: 'rg-' + '1' * 32, submitter: 'slack-relay']
    }

    static final Map ALICE = click('U01ALICE', 'alice'), BOB = click('U02BOB', 'bob'), CAROL = click('U03CAROL', 'carol')

    /** Runs the step with the fake clock. */
    Map run(Map config) {
        Script s = loadStep('slackApproval')
        s.metaClass.nowMillis = { -> clock }
        return (Map) s.invokeMethod('call', [config] as Object[])
    }

    String failureOf(Map config) {
        try {
            run(config)
        } catch (PipelineError e) {
            return e.message
        }
        fail('expected slackApproval to fail')
    }

    List<String> verbs() {
        return helperCalls.collect { it[0] }
    }

    List argsOf(String verb, int nth = 0) {
        return helperCalls.findAll { it[0] == verb }[nth][1]
    }

    /** Returns the value after flag in a helper call's args. */
    static String flag(List args, String name) {
        int i = args.indexOf(name)
        return i < 0 ? null : args[i + 1]
    }

    @Test
    void itPostsTheRequestWaitsOutsideAnyNodeAndReturnsAfterOneApproval() {
        answers = [BOB]
        Map r = run(BASE)
        assertEquals(['rule', 'request', 'audit record', 'update'], verbs())
        assertEquals(['--rbac', 'rbac.yaml', '--service', 'payments', '--environment', 'prod', '--branch', 'main'], argsOf('rule'))
        assertEquals(['--channel', 'C0RELEASE', '--service', 'payments', '--environment', 'prod', '--version', '1.4.0',
                      '--commit', 'a' * 40, '--branch', 'main', '--requester', 'U09REQ', '--build-url', currentBuild.absoluteUrl,
                      '--input-id', 'ReleaseApproval', '--token-ttl', '24h', '--message-out', '.release-gates/slackApproval.message.json',
                      '--audit-file', '.release-gates/approval-audit.jsonl'], argsOf('request'))
        assertEquals(['--channel', 'C0RELEASE', '--ts', '1700000000.000100', '--decision', 'approved', '--by', 'bob',
                      '--reason', '1 of 1 approvals'], argsOf('update'))
        assertEquals('approved', flag(argsOf('audit record'), '--event'))
        assertEquals('U02BOB', flag(argsOf('audit record'), '--user'))
        Map input = callsTo('input')[0][0]
        assertEquals('ReleaseApproval', input.id)
        assertEquals('slack-relay', input.submitter)
        assertEquals('submitter', input.submitterParameter)
        assertEquals(['approver', 'approverName', 'eventId', 'comment', 'decision', 'traceId'], input.parameters*.name)
        assertEquals([86400], timeouts)
        assertEquals([], callsTo('node'))
        assertEquals([decision: 'approved', approverNames: ['bob'], required: 1, traceId: 'rg-' + '1' * 32, channel: 'C0RELEASE',
                      ts: '1700000000.000100'], r.subMap(['decision', 'approverNames', 'required', 'traceId', 'channel', 'ts']))
        assertEquals([[approver: 'U02BOB', approverName: 'bob', eventId: '1700000001.1-U02BOB', comment: 'approved via Slack by bob (U02BOB)']], r.approvers)
        new ObjectOutputStream(new ByteArrayOutputStream()).writeObject(r)
        assertEquals(r, new JsonSlurperClassic().parseText(file('.release-gates/slackApproval.json').text))
        assertEquals([[[artifacts: '.release-gates/slackApproval.json,.release-gates/approval-audit.jsonl,.release-gates/slackApproval-*.json',
                        allowEmptyArchive: true]]], callsTo('archiveArtifacts'))
    }

    @Test
    void itBindsTheSlackSecretsOnlyAsEnvironmentVariablesAndNeverPutsThemOnACommandLine() {
        answers = [BOB]
        run(BASE + [summaries: ['.release-gates/goBuildGate.json', '.release-gates/signArtifacts.json']])
        assertEquals([[:], [SLACK_BOT_TOKEN: BOT_TOKEN, RG_BUTTON_SECRET: BUTTON_SECRET], [:], [SLACK_BOT_TOKEN: BOT_TOKEN]], secretsSeen)
        assertEquals([[[[$class: 'string', credentialsId: 'slack-bot-token', variable: 'SLACK_BOT_TOKEN'],
                        [$class: 'string', credentialsId: 'slack-button-secret', variable: 'RG_BUTTON_SECRET']]],
                      [[[$class: 'string', credentialsId: 'slack-bot-token', variable: 'SLACK_BOT_TOKEN']]]], callsTo('withCredentials'))
        assertEquals(['--summary', '.release-gates/goBuildGate.json', '--summary', '.release-gates/signArtifacts.json'],
            argsOf('request').subList(argsOf('request').size() - 4, argsOf('request').size()))
        String everything = shCalls()*.script.join('\n') + console + workspace.listFiles().collect { it.isDirectory() ? it.listFiles()*.text.join() : it.text }.join()
        assertFalse(everything.contains(BOT_TOKEN))
        assertFalse(everything.contains(BUTTON_SECRET))
    }

    @Test
    void itWaitsForTwoDistinctApproversAndIgnoresADuplicateClick() {
        rule.required = 2
        answers = [ALICE, ALICE, CAROL]
        Map r = run(BASE)
        assertEquals(['alice', 'carol'], r.approverNames)
        assertEquals(3, callsTo('input').size())
        assertEquals(['rule', 'request', 'audit record', 'audit record', 'update'], verbs())
        assertEquals(['U01ALICE', 'U03CAROL'], helperCalls.findAll { it[0] == 'audit record' }.collect { flag(it[1], '--user') })
        assertEquals('alice, carol', flag(argsOf('update'), '--by'))
        assertTrue(console.toString().contains('slackApproval: ignored an answer: duplicate approval by alice (U01ALICE)\n'))
        assertTrue(console.toString().contains('slackApproval: approval 2 of 2 by carol (U03CAROL)\n'))
        assertTrue(callsTo('input')[2][0].message.contains('1 of 2 approvals'))
    }

    @Test
    void itIgnoresAndAuditsTheRequestersOwnApprovalUnlessTheRuleAllowsIt() {
        Map self = click('U09REQ', 'requester')
        answers = [self, BOB]
        Map r = run(BASE)
        assertEquals(['bob'], r.approverNames)
        List audits = helperCalls.findAll { it[0] == 'audit record' }.collect { it[1] }
        assertEquals(['denied', 'approved'], audits.collect { flag(it, '--event') })
        assertEquals('U09REQ', flag(audits[0], '--user'))
        assertEquals('self-approval by the requester requester (U09REQ) is not allowed for prod', flag(audits[0], '--reason'))

        helperCalls.clear()
        rule.allowSelfApproval = true
        answers = [self]
        assertEquals(['requester'], run(BASE).approverNames)
    }

    @Test
    void itIgnoresAnswersThatDidNotComeFromTheRelayOrBelongToAnotherRelease() {
        answers = [ALICE + [submitter: 'admin'], ALICE + [traceId: 'rg-' + '2' * 32], [:] + ALICE + [decision: 'maybe'], 'proceeded', BOB]
        Map r = run(BASE)
        assertEquals(['bob'], r.approverNames)
        assertEquals(['rule', 'request', 'audit record', 'update'], verbs())
        String out = console.toString()
        assertTrue(out.contains('ignored an answer: submitted by admin, not by the relay account slack-relay'))
        assertTrue(out.contains("ignored an answer: the button belongs to trace rg-${'2' * 32}, not rg-${'1' * 32}"))
        assertTrue(out.contains("ignored an answer: no approver or an unknown decision 'maybe'"))
        assertTrue(out.contains('ignored an answer: the input was answered without parameters'))
    }

    @Test
    void itFailsOnARejectClickAfterUpdatingSlackAndTheAuditLog() {
        rule.required = 2
        answers = [ALICE, click('U02BOB', 'bob', 'reject')]
        assertEquals('slackApproval: rejected by bob (U02BOB): rejected via Slack by bob (U02BOB)', failureOf(BASE))
        assertEquals(['rule', 'request', 'audit record', 'audit record', 'update'], verbs())
        assertEquals(['approved', 'rejected'], helperCalls.findAll { it[0] == 'audit record' }.collect { flag(it[1], '--event') })
        assertEquals(['--channel', 'C0RELEASE', '--ts', '1700000000.000100', '--decision', 'rejected', '--by', 'bob',
                      '--reason', 'rejected via Slack by bob (U02BOB)'], argsOf('update'))
        assertEquals('rejected', new JsonSlurperClassic().parseText(file('.release-gates/slackApproval.json').text).decision)
        List names = calls*.name
        assertTrue(names.indexOf('archiveArtifacts') < names.indexOf('error'))
        assertNull(currentBuild.result)
    }

    @Test
    void itEscalatesToTheRulesGroupAfterTheFirstWaitThenKeepsWaitingForTheRemainingTime() {
        answers = [TIMEOUT, CAROL]
        Map r = run(BASE + [escalateAfter: '2h'])
        assertEquals([7200, 79200], timeouts)
        assertEquals(['rule', 'request', 'escalate', 'audit record', 'update'], verbs())
        assertEquals(['--channel', 'C0RELEASE', '--ts', '1700000000.000100', '--group', 'S01RELEASE', '--text',
                      'this release still needs 1 approval(s)'], argsOf('escalate'))
        assertEquals(['carol'], r.approverNames)
        assertTrue(console.toString().contains('slackApproval: no decision after 2h: escalated to S01RELEASE\n'))
    }

    @Test
    void itEscalatesToTheGivenGroupOnlyOnce() {
        rule.required = 2
        answers = [TIMEOUT, ALICE, BOB]
        run(BASE + [escalateAfter: '30m', escalationGroup: 'S09OTHER', timeout: '1h'])
        assertEquals([1800, 1800, 1800], timeouts)
        assertEquals('S09OTHER', flag(argsOf('escalate'), '--group'))
        assertEquals(1, verbs().count('escalate'))
    }

    @Test
    void itExpiresAfterTheTimeoutAndAbortsTheBuildWithTheCount() {
        rule.required = 2
        answers = [ALICE, TIMEOUT]
        assertEquals('slackApproval: approval expired after 24h (1 of 2 approvals)', failureOf(BASE))
        assertEquals('ABORTED', currentBuild.result)
        assertEquals(['rule', 'request', 'audit record', 'audit record', 'update'], verbs())
        List expired = argsOf('audit record', 1)
        assertEquals('expired', flag(expired, '--event'))
        assertEquals('approval expired after 24h (1 of 2 approvals)', flag(expired, '--reason'))
        assertEquals(['--channel', 'C0RELEASE', '--ts', '1700000000.000100', '--decision', 'expired',
                      '--reason', 'approval expired after 24h (1 of 2 approvals)'], argsOf('update'))
        assertEquals([86400, 86400], timeouts)
        Map written = new JsonSlurperClassic().parseText(file('.release-gates/slackApproval.json').text)
        assertEquals(['expired', ['alice']], [written.decision, written.approverNames])
    }

    @Test
    void itExpiresAfterAnEscalationThatGotNoAnswer() {
        answers = [TIMEOUT, TIMEOUT]
        assertEquals('slackApproval: approval expired after 3h (0 of 1 approvals)', failureOf(BASE + [escalateAfter: '1h', timeout: '3h']))
        assertEquals([3600, 7200], timeouts)
        assertEquals(['rule', 'request', 'escalate', 'audit record', 'update'], verbs())
    }

    @Test
    void itKeepsTheBuildAbortedWhenSlackCannotBeUpdatedOnExpiry() {
        exitOf['update'] = 3
        answers = [TIMEOUT]
        assertEquals('slackApproval: approval expired after 24h (0 of 1 approvals)', failureOf(BASE))
        assertTrue(console.toString().contains('slackApproval: warning: update failed (update refused)'))
    }

    @Test
    void itRecordsAnAbortInJenkinsRemovesTheButtonsAndRethrows() {
        CauseOfInterruption byAdmin = new CauseOfInterruption() {
            String getShortDescription() { 'Rejected by admin' }
            String getUser() { 'admin' }
        }
        FlowInterruptedException abort = new FlowInterruptedException('ABORTED', byAdmin)
        answers = [abort]
        try {
            run(BASE)
            fail('expected the abort to propagate')
        } catch (FlowInterruptedException e) {
            assertSame(abort, e)
        }
        assertEquals(['rule', 'request', 'audit record', 'update'], verbs())
        assertEquals(['--channel', 'C0RELEASE', '--ts', '1700000000.000100', '--decision', 'rejected', '--by', 'admin',
                      '--reason', 'aborted in Jenkins'], argsOf('update'))
        assertEquals('aborted', new JsonSlurperClassic().parseText(file('.release-gates/slackApproval.json').text).decision)
    }

    @Test
    void itRunsTheHelperCallsInTheAgentLabelsNodeButWaitsOutsideAnyNode() {
        rule.required = 2
        List shDepths = []
        mockSh(/slack-approval' '(rule|request|update|escalate|audit)'/) { Map a -> shDepths.add(nodeDepth); answer(a.script.toString()) }
        answers = [ALICE, BOB]
        run(BASE + [agentLabel: 'linux', unstash: ['evidence', 'rbac']])
        assertEquals([0, 0], inputDepths)
        assertEquals([1] * 5, shDepths)
        assertEquals([['linux']] * 4, callsTo('node'))
        assertEquals(4, callsTo('stash').size())
        assertEquals([['evidence'], ['rbac']] + [['rg-slack-approval-audit']] * 3, callsTo('unstash'))
        assertEquals([name: 'rg-slack-approval-audit', allowEmpty: true,
                      includes: '.release-gates/approval-audit.jsonl,.release-gates/slackApproval.json,.release-gates/slackApproval-*.json'],
                     callsTo('stash')[0][0])
    }

    @Test
    void itFailsBeforePostingWhenTheBranchMayNotBeReleased() {
        exitOf['rule'] = 1
        assertEquals('slackApproval: rejected: rule refused', failureOf(BASE))
        assertEquals(['rule'], verbs())
        assertEquals([], callsTo('input'))
    }

    @Test
    void itFailsWhenTheRequestCannotBePosted() {
        exitOf['request'] = 3
        assertEquals('slackApproval: infrastructure unavailable: request refused (retry later)', failureOf(BASE))
        assertEquals([], callsTo('input'))
    }

    @Test
    void itRefusesToEscalateWithoutAGroupBeforePosting() {
        rule.remove('escalationGroup')
        assertEquals('slackApproval: escalateAfter needs a group to escalate to: set escalationGroup (S...) or add escalationGroup ' +
            'to the payments/prod rule in rbac.yaml', failureOf(BASE + [escalateAfter: '2h']))
        assertEquals(['rule'], verbs())
    }

    @Test
    void itRejectsBadParametersBeforeRunningAnything() {
        Map cases = [
            "parameter 'channel' is required"          : BASE.findAll { it.key != 'channel' },
            "parameter 'relayUser' is required"        : BASE.findAll { it.key != 'relayUser' },
            'channel must be a Slack channel id'       : BASE + [channel: '#releases'],
            'requester must be a Slack user id'        : BASE + [requester: 'alice'],
            'timeout must be a duration'               : BASE + [timeout: '1d'],
            'escalateAfter must be a duration'         : BASE + [escalateAfter: '25h'],
            'escalationGroup must be a Slack user group': BASE + [escalationGroup: 'release-team'],
            'inputId must be letters'                  : BASE + [inputId: 'a b'],
            'summaries must list result files'         : BASE + [summaries: [1]],
            'unstash applies to the node(agentLabel)'  : BASE + [unstash: ['evidence']],
            "unknown parameter 'timeOut' (did you mean 'timeout'?)": BASE + [timeOut: '1h'],
        ]
        cases.each { want, config ->
            String msg = failureOf(config)
            assertTrue("${want}: ${msg}".toString(), msg.startsWith('slackApproval: ') && msg.contains(want))
        }
        env.remove('GIT_COMMIT')
        assertTrue(failureOf(BASE).startsWith("slackApproval: parameter 'commit' is required when env.GIT_COMMIT is not set"))
        assertEquals([], shCalls())
    }
}
