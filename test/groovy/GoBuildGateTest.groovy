import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic
import org.junit.Before
import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/** goBuildGate with a recorded sh: command line, params document, error mapping, JUnit publishing (rules: gate.StepParams tests). */
class GoBuildGateTest extends PipelineTestBase {
    static final String HELPER = '/opt/rg/bin/go-build-gate'
    static final String RUN_SCRIPT = "mkdir -p '.release-gates' && rm -f '.release-gates/goBuildGate.json'\n" +
        "'/opt/rg/bin/go-build-gate' 'run' '--params' '.release-gates/goBuildGate.params.json' '--result-file' '.release-gates/goBuildGate.json'\n"

    @Before
    void helperIsOnThePath() {
        mockSh(/^h='go-build-gate'/) { Map a -> "found ${HELPER}\n" }
        helperAnswers(0, 'all checks passed')
    }

    /** Makes the next helper run exit with status after writing a result with message (no result when message is null). */
    void helperAnswers(int status, String message) {
        mockSh(/go-build-gate' 'run'/) { Map a ->
            if (message != null) {
                String st = status == 0 ? 'passed' : 'rejected'
                List items = [[name: 'modverify', status: 'passed'], [name: 'apidiff', status: st, message: status == 0 ? null : message]]
                Map p = new JsonSlurperClassic().parseText(file('.release-gates/goBuildGate.params.json').text)
                Map r = [helper: 'go-build-gate', verb: 'run', status: st, exit_code: status, message: message, trace_id: env.RELEASE_TRACE_ID,
                         items: items, archive: ['.release-gates/goBuildGate.junit.xml'],
                         junit: p.params.junit == false ? [] : ['.release-gates/goBuildGate.junit.xml'],
                         summary: ["goBuildGate: ${st} (trace ${env.RELEASE_TRACE_ID})".toString(), 'goBuildGate:   modverify passed',
                                   "goBuildGate:   apidiff ${st}${status == 0 ? '' : ': ' + message}".toString()],
                         returns: [status: st, exit_code: status, trace_id: env.RELEASE_TRACE_ID, items: items]]
                file('.release-gates/goBuildGate.json').text = JsonOutput.toJson(r)
            }
            status
        }
    }

    String failureOf(Map config) {
        try {
            runStep('goBuildGate', config)
        } catch (PipelineError e) {
            return e.message
        }
        fail('expected goBuildGate to fail')
    }

    static final Map SMOKE = [smokeCommand: './orders']

    @Test
    void itRunsTheHelperWithTheExactCommandLineAndLabel() {
        runStep('goBuildGate', SMOKE)
        Map run = shCalls().find { it.label == 'goBuildGate: run' }
        assertEquals(RUN_SCRIPT, run.script)
        assertEquals(true, run.returnStatus)
        assertEquals(['goBuildGate: locate go-build-gate', 'goBuildGate: run'], shCalls()*.label)
    }

    @Test
    void itWritesTheMapVerbatimWithTheBuildContextIntoTheParamsDocument() {
        env.GIT_URL = 'https://git.example.com/orders.git'
        env.GIT_COMMIT = 'c0ffee'
        env.BRANCH_NAME = 'main'
        env.JOB_URL = 'https://ci.example.com/job/demo/'
        Map config = [dir: 'services/orders', checks: ['apidiff', 'smoke'], spec: 'docs/v2/swagger.json', baseRef: 'v1.0.0',
                      smokeCommand: './orders', smokeArgs: ['--port', 18080], smokeEnv: [PORT: 18080, MODE: "smo${'ke'}"],
                      expectBody: [status: 'ok'], baseSpec: null]
        runStep('goBuildGate', config)
        Map doc = new JsonSlurperClassic().parseText(file('.release-gates/goBuildGate.params.json').text)
        assertEquals('goBuildGate', doc.step)
        assertEquals([dir: 'services/orders', checks: ['apidiff', 'smoke'], spec: 'docs/v2/swagger.json', baseRef: 'v1.0.0',
                      smokeCommand: './orders', smokeArgs: ['--port', 18080], smokeEnv: [PORT: 18080, MODE: 'smoke'],
                      expectBody: [status: 'ok'], baseSpec: null], doc.params)
        assertEquals([buildUrl: env.BUILD_URL, jobName: 'demo', jobUrl: 'https://ci.example.com/job/demo/', buildNumber: '7',
                      gitUrl: 'https://git.example.com/orders.git', gitCommit: 'c0ffee', branch: 'main', traceId: env.RELEASE_TRACE_ID,
                      workspace: workspace.path], doc.context)
        assertEquals([:], doc.secrets)
    }

    @Test
    void itReturnsTheResultAsAPlainSerializableMap() {
        Map r = runStep('goBuildGate', SMOKE)
        assertEquals('passed', r.status)
        assertEquals(0, r.exit_code)
        new ObjectOutputStream(new ByteArrayOutputStream()).writeObject(r)
        assertEquals(HashMap, r.getClass())
    }

    @Test
    void itPublishesJUnitAndArchivesTheResultBeforeFailingOnARejection() {
        helperAnswers(1, '2 breaking changes: api-path-removed-without-deprecation GET /orders/{id}')
        assertEquals('goBuildGate: rejected: 2 breaking changes: api-path-removed-without-deprecation GET /orders/{id}', failureOf(SMOKE))
        assertEquals([[[testResults: '.release-gates/goBuildGate.junit.xml', allowEmptyResults: true]]], callsTo('junit'))
        assertEquals([[[artifacts: '.release-gates/goBuildGate.json,.release-gates/goBuildGate.params.json,.release-gates/goBuildGate.junit.xml',
                        allowEmptyArchive: true]]], callsTo('archiveArtifacts'))
        List names = calls*.name
        assertTrue(names.indexOf('junit') < names.indexOf('error'))
    }

    @Test
    void itSkipsJUnitPublishingWhenJunitIsFalse() {
        runStep('goBuildGate', SMOKE + [junit: false])
        assertEquals([], callsTo('junit'))
    }

    @Test
    void itMapsEveryExitCodeToAClearError() {
        env.RELEASE_TRACE_ID = 'rg-t'
        Map cases = [
            1: 'goBuildGate: rejected: boom',
            2: 'goBuildGate: bad input or configuration: boom',
            3: 'goBuildGate: infrastructure unavailable: boom (retry later)',
            4: 'goBuildGate: helper bug, please report (helper go-build-gate, trace rg-t): boom',
            7: 'goBuildGate: helper go-build-gate failed with exit code 7: boom',
        ]
        cases.each { code, want ->
            helperAnswers(code, 'boom')
            assertEquals(want, failureOf(SMOKE))
        }
    }

    @Test
    void itFailsClearlyWhenTheHelperWritesNoResultFile() {
        helperAnswers(2, null)
        assertEquals('goBuildGate: helper go-build-gate failed with exit code 2 and wrote no result file', failureOf(SMOKE))
    }

    @Test
    void itFailsClearlyWhenTheResultFileIsNotJson() {
        mockSh(/go-build-gate' 'run'/) { Map a -> file('.release-gates/goBuildGate.json').text = 'panic: oops'; 0 }
        assertEquals('goBuildGate: helper go-build-gate failed with exit code 0 and wrote no result file', failureOf(SMOKE))
    }

    @Test
    void itRejectsAnUnknownParameterBeforeRunningAnything() {
        assertEquals("goBuildGate: unknown parameter 'smokeComand' (did you mean 'smokeCommand'?); known parameters: " +
            'allowList, basePath, baseRef, baseSpec, checks, deadline, dir, expectBody, failOn, healthUrl, junit, resultFile, ' +
            'smokeArgs, smokeCommand, smokeEnv, smokeWorkdir, spec, tagPattern, tryTimeout (see vars/goBuildGate.txt)',
            failureOf([smokeComand: './orders']))
        assertEquals([], shCalls())
    }

    @Test
    void itRejectsAWrongTypeBeforeRunningAnything() {
        Map cases = [
            ([expectBody: 'ok'] + SMOKE)  : "goBuildGate: parameter 'expectBody' must be a Map, got String 'ok' (see vars/goBuildGate.txt)",
            ([checks: 'modverify'])       : "goBuildGate: parameter 'checks' must be a List of Strings, got String 'modverify' (see vars/goBuildGate.txt)",
            ([junit: 'yes'] + SMOKE)      : "goBuildGate: parameter 'junit' must be a Boolean, got String 'yes' (see vars/goBuildGate.txt)",
            ([smokeEnv: ['PORT=1']] + SMOKE): "goBuildGate: parameter 'smokeEnv' must be a Map, got List [PORT=1] (see vars/goBuildGate.txt)",
            ([smokeArgs: [[1]]] + SMOKE)   : "goBuildGate: parameter 'smokeArgs' must be a List of Strings, got List [[1]] (see vars/goBuildGate.txt)",
            ([smokeArgs: ['--port', [1]]] + SMOKE): "goBuildGate: parameter 'smokeArgs' must be a List of Strings, got List [--port, [1]] (see vars/goBuildGate.txt)",
            ([smokeEnv: [PORT: [1]]] + SMOKE): "goBuildGate: parameter 'smokeEnv' must map names to strings; 'PORT' is not one (see vars/goBuildGate.txt)",
        ]
        cases.each { config, want -> assertEquals(want, failureOf(config)) }
        assertEquals([], shCalls())
    }

    @Test
    void itLeavesCrossParameterRulesToTheHelperAndReportsItsMessage() {
        mockSh(/go-build-gate' 'run'/) { Map a ->
            file('.release-gates/goBuildGate.json').text = JsonOutput.toJson([helper: 'go-build-gate', status: 'error', exit_code: 2,
                message: "failOn must be ERR, WARN or INFO; got 'error'", items: []])
            2
        }
        assertEquals("goBuildGate: bad input or configuration: failOn must be ERR, WARN or INFO; got 'error'", failureOf(SMOKE + [failOn: 'error']))
    }

    @Test
    void itCreatesATraceIdWhenMissingAndKeepsItForLaterSteps() {
        Map r = runStep('goBuildGate', SMOKE)
        assertTrue(env.RELEASE_TRACE_ID ==~ /rg-[0-9a-f]{32}/)
        assertEquals(env.RELEASE_TRACE_ID, r.trace_id)
        assertEquals([[["RELEASE_TRACE_ID=${env.RELEASE_TRACE_ID}".toString()]]], callsTo('withEnv'))
    }

    @Test
    void itKeepsAnExistingTraceId() {
        env.RELEASE_TRACE_ID = 'rg-existing'
        assertEquals('rg-existing', runStep('goBuildGate', SMOKE).trace_id)
        assertEquals('rg-existing', env.RELEASE_TRACE_ID)
    }

    @Test
    void itQuotesAResultFileWithShellMetacharacters() {
        mockSh(/go-build-gate' 'run'/) { Map a -> 0 }
        try {
            runStep('goBuildGate', SMOKE + [resultFile: "out/it's \$(rm -rf x).json"])
        } catch (PipelineError ignored) {
        }
        String script = shCalls().find { it.label == 'goBuildGate: run' }.script
        assertTrue(script, script.endsWith("'--result-file' 'out/it'\"'\"'s \$(rm -rf x).json'\n"))
    }

    @Test
    void itEchoesOneSummaryLinePerCheck() {
        env.RELEASE_TRACE_ID = 'rg-t'
        helperAnswers(1, 'breaking')
        failureOf(SMOKE)
        assertEquals(['goBuildGate: rejected (trace rg-t)', 'goBuildGate:   modverify passed', 'goBuildGate:   apidiff rejected: breaking'],
            callsTo('echo').collect { it[0] })
    }

    @Test
    void itFailsClearlyWhenTheHelperDirLacksTheHelper() {
        mockSh(/^h='go-build-gate'/) { Map a -> "missing-dir /nowhere\n" }
        assertEquals('goBuildGate: helper go-build-gate not found or not executable in RELEASE_GATES_HELPER_DIR=/nowhere: ' +
            'build it there (make helpers) or unset RELEASE_GATES_HELPER_DIR', failureOf(SMOKE))
    }

    @Test
    void itRefusesToDownloadAHelperThatTheLockDoesNotPin() {
        mockSh(/^h='go-build-gate'/) { Map a -> "download linux/amd64 /ws/.release-gates/tools/v0.1.0/linux-amd64/go-build-gate\n" }
        assertEquals("goBuildGate: helper go-build-gate is not on this agent and helpers.lock pins no sha256 for linux/amd64 " +
            "(found 'unset'): refusing to download an unverified helper; install it on the agent's PATH or set RELEASE_GATES_HELPER_DIR",
            failureOf(SMOKE))
        assertFalse(shCalls()*.label.any { it.contains('download') })
    }
}
