import io.releasegates.HelperRunner
import org.junit.Before
import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/** HelperRunner.run with a real sh and a stand-in helper: quoting, env, secrets, exit-code mapping. */
class HelperRunnerTest extends PipelineTestBase {
    File helperDir
    Script script

    @Before
    void standInHelperInTheHelperDir() {
        realSh = true
        helperDir = new File(workspace, 'helpers-bin')
        StubHelper.write(helperDir, 'rg-stub')
        env.RELEASE_GATES_HELPER_DIR = helperDir.path
        script = new GroovyShell(this.class.classLoader, binding).parse('1')
    }

    Map run(Map opts) {
        return HelperRunner.run(script, [step: 'demoStep', helper: 'rg-stub', verb: 'check', resultFile: 'out/r.json'] + opts)
    }

    String failureOf(Map opts) {
        try {
            run(opts)
        } catch (PipelineError e) {
            return e.message
        }
        fail('expected the run to fail')
    }

    @Test
    void itPassesEveryArgumentVerbatimThroughTheShell() {
        List args = ["it's", '$(touch pwned)', 'a b', '`id`', '"q"', '*', '--x=;|&']
        run([args: args, verb: 'blob sign'])
        assertEquals(['blob', 'sign'] + args + ['--result-file', 'out/r.json'], file('out/stub-args.txt').readLines())
        assertFalse(file('pwned').exists())
    }

    @Test
    void itExpandsAnEnvArgumentOnTheAgentAsOneWordAndNeverPutsItsValueInTheScript() {
        env.RG_KEY_PATH = "${workspace.path}/a key; \$(touch pwned)".toString()
        run([args: ['--key', [env: 'RG_KEY_PATH'], 'file'], verb: 'blob sign'])
        assertEquals(['blob', 'sign', '--key', env.RG_KEY_PATH, 'file', '--result-file', 'out/r.json'], file('out/stub-args.txt').readLines())
        assertTrue(shCalls().last().script.contains(""" '--key' "\$RG_KEY_PATH" 'file' """))
        assertFalse(file('pwned').exists())
        try {
            run([args: [[env: 'A B']]])
            fail('expected a bad env name to be refused')
        } catch (Exception e) {
            assertEquals("not an environment variable name: 'A B'", e.message)
        }
    }

    @Test
    void itPassesPositionalArgumentsAfterTheResultFileAndADoubleDashSoThatNoneIsReadAsAFlag() {
        run([args: ['--parallel', '2'], positional: ['-rf.txt', 'a b']])
        assertEquals(['check', '--parallel', '2', '--result-file', 'out/r.json', '--', '-rf.txt', 'a b'], file('out/stub-args.txt').readLines())
    }

    @Test
    void itWritesTheParamsAsJsonAndPassesTheirPath() {
        run([params: [dir: "sub/${'x'}", list: [1, 'two'], nested: [a: null]]])
        assertEquals(['check', '--params', 'out/r.params.json', '--result-file', 'out/r.json'], file('out/stub-args.txt').readLines())
        assertEquals('{\n    "dir": "sub/x",\n    "list": [\n        1,\n        "two"\n    ],\n    "nested": {\n        "a": null\n    }\n}\n',
            file('out/r.params.json').text)
    }

    @Test
    void itReturnsThePassedResultWithTheTraceIdItSetInTheEnvironment() {
        Map r = run([:])
        assertEquals('passed', r.status)
        assertEquals(env.RELEASE_TRACE_ID, r.trace_id)
        assertTrue(r.trace_id ==~ /rg-[0-9a-f]{32}/)
        new ObjectOutputStream(new ByteArrayOutputStream()).writeObject(r)
    }

    @Test
    void itMapsTheExitCodesOfARealProcess() {
        Map cases = [
            1  : 'demoStep: rejected: signature does not verify',
            2  : 'demoStep: bad input or configuration: signature does not verify',
            3  : 'demoStep: infrastructure unavailable: signature does not verify (retry later)',
            126: 'demoStep: helper rg-stub failed with exit code 126: signature does not verify',
        ]
        cases.each { code, want ->
            assertEquals(want, failureOf([env: ["STUB_EXIT=${code}", 'STUB_MESSAGE=signature does not verify']]))
        }
        String bug = failureOf([env: ['STUB_EXIT=4', 'STUB_MESSAGE=signature does not verify']])
        assertTrue(bug, bug ==~ /demoStep: helper bug, please report( \(helper rg-stub, trace rg-[0-9a-f]+\))?: signature does not verify/)
    }

    @Test
    void itReportsAMissingResultFileEvenWhenAStaleOneWasThere() {
        file('out').mkdirs()
        file('out/r.json').text = '{"status":"passed","message":"stale"}'
        assertEquals('demoStep: helper rg-stub failed with exit code 4 and wrote no result file',
            failureOf([env: ['STUB_EXIT=4', 'STUB_NO_RESULT=1']]))
    }

    @Test
    void itReturnsAFailedResultWhenFailureIsAllowedAndCheckRaisesItLater() {
        Map r = run([allowFailure: true, env: ['STUB_EXIT=1', 'STUB_STATUS=rejected', 'STUB_MESSAGE=nope']])
        assertEquals(1, r.exit_code)
        try {
            HelperRunner.check(script, 'demoStep', r)
            fail('expected check to fail')
        } catch (PipelineError e) {
            assertEquals('demoStep: rejected: nope', e.message)
        }
    }

    @Test
    void itHandsSecretsToTheHelperOnlyThroughTheEnvironment() {
        credentials['slack-token'] = 'xoxb-very-secret'
        run([credentials: [[$class: 'string', credentialsId: 'slack-token', variable: 'STUB_SECRET']]])
        assertEquals('xoxb-very-secret', file('out/stub-secret.txt').text)
        assertEquals([[[[$class: 'string', credentialsId: 'slack-token', variable: 'STUB_SECRET']]]], callsTo('withCredentials'))
        shCalls().each { assertFalse(it.script, it.script.contains('xoxb-very-secret')) }
        assertFalse(console.toString().contains('xoxb-very-secret'))
        assertEquals(null, env.STUB_SECRET)
    }

    @Test
    void itFindsTheHelperOnThePathWhenNoHelperDirIsSet() {
        env.RELEASE_GATES_HELPER_DIR = null
        env.PATH = "${helperDir.path}:${System.getenv('PATH')}".toString()
        env.STUB_VERSION = HelperRunner.readLock(script, 'demoStep').version
        assertEquals('passed', run([:]).status)
        assertTrue(file('out/stub-args.txt').exists())
    }

    @Test
    void itFailsClearlyWhenTheHelperDirLacksTheHelper() {
        assertEquals(("otherStep: helper rg-missing not found or not executable in RELEASE_GATES_HELPER_DIR=${helperDir.path}: " +
            'build it there (make helpers) or unset RELEASE_GATES_HELPER_DIR').toString(),
            failureOf([step: 'otherStep', helper: 'rg-missing']))
    }

    @Test
    void itRejectsAnUnknownRunOptionAndMissingRequiredOnes() {
        assertTrue(failureOf([argz: []]).startsWith("HelperRunner.run: unknown parameter 'argz' (did you mean 'args'?)"))
        try {
            HelperRunner.run(script, [step: 'demoStep', helper: 'rg-stub'])
            fail('expected a missing verb to fail')
        } catch (PipelineError e) {
            assertEquals("HelperRunner.run: parameter 'verb' is required (see src/io/releasegates/HelperRunner.groovy)", e.message)
        }
    }

    @Test
    void itRunsInTheDirectoryOfTheEnclosingDirStep() {
        binding.getVariable('dir').call('sub/dir') { run([:]) }
        assertTrue(file('sub/dir/out/r.json').exists())
        assertFalse(file('out/r.json').exists())
    }
}
