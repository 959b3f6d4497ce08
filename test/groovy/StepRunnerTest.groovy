import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic
import io.releasegates.StepRunner
import org.junit.Before
import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/** StepRunner against a demo schema: checks before sh, the params document, credential table, verbs, returns and body. */
class StepRunnerTest extends PipelineTestBase {
    static final Map SCHEMA = [step: 'demoStep', helper: 'demo-helper', verb: 'run',
        params: [[name: 'name', type: 'string', required: true, doc: 'a name'], [name: 'count', type: 'integer', 'default': 2, doc: 'n'],
                 [name: 'tokenCredentialsId', type: 'string', doc: 't'], [name: 'loginCredentialsId', type: 'string', doc: 'l'],
                 [name: 'resultFile', type: 'string', 'default': '.release-gates/demoStep.json', doc: 'r']],
        credentials: [[param: 'tokenCredentialsId', kind: 'string', role: 'token', variable: 'DEMO_TOKEN'],
                      [param: 'loginCredentialsId', kind: 'usernamePassword', role: 'login', usernameVariable: 'DEMO_USER', passwordVariable: 'DEMO_PASS']]]

    Script script
    Map docSeen = null

    @Before
    void aDemoStepAndHelper() {
        resources['steps/demoStep.json'] = JsonOutput.toJson(SCHEMA)
        credentials['tok'] = 't0ken-never-shown'
        credentials['login'] = [username: 'bot', password: 'pa55']
        mockSh(/^h='demo-helper'/) { Map a -> "found /opt/demo-helper\n" }
        mockSh(/demo-helper' '\w+' '--params'/) { Map a ->
            String pf = (a.script =~ /'--params' '([^']+)'/)[0][1]
            String rf = (a.script =~ /'--result-file' '([^']+)'/)[0][1]
            docSeen = new JsonSlurperClassic().parseText(file(pf).text)
            file(rf).text = JsonOutput.toJson([helper: 'demo-helper', status: 'passed', exit_code: 0, items: [], archive: ['/etc/passwd', 'out.txt', '../up'],
                                               summary: ['demoStep: fine'], returns: [answer: 42, token: env.DEMO_TOKEN == 't0ken-never-shown']])
            0
        }
        script = new GroovyShell(this.class.classLoader, binding).parse('1')
    }

    String failureOf(Closure c) {
        try {
            c.call()
        } catch (PipelineError e) {
            return e.message
        }
        fail('expected an error')
    }

    @Test
    void itWritesTheDocumentBindsOnlyTheCredentialsTheMapNamesAndReturnsWhatTheHelperReturns() {
        String n = 'world'
        Map seen = null
        Map r = StepRunner.run(script, 'demoStep', [name: "hello ${n}", tokenCredentialsId: 'tok']) { Map m -> seen = m }
        assertEquals([answer: 42, token: true], r)
        assertEquals(r, seen)
        assertEquals([name: 'hello world', tokenCredentialsId: 'tok'], docSeen.params)
        assertEquals([token: 'DEMO_TOKEN'], docSeen.secrets)
        assertEquals([[[[$class: 'string', credentialsId: 'tok', variable: 'DEMO_TOKEN']]]], callsTo('withCredentials'))
        assertEquals([[[artifacts: '.release-gates/demoStep.json,.release-gates/demoStep.params.json,out.txt', allowEmptyArchive: true]]],
            callsTo('archiveArtifacts'))
        assertEquals([['demoStep: fine']], callsTo('echo'))
        assertTrue(!file('.release-gates/demoStep.params.json').text.contains('t0ken-never-shown'))
    }

    @Test
    void itKeepsStringsThatLookLikeJsonVerbatim() {
        StepRunner.run(script, 'demoStep', [name: '[debug]', tokenCredentialsId: null])
        assertEquals('[debug]', docSeen.params.name)
        StepRunner.run(script, 'demoStep', [name: 'null'])
        assertEquals('null', docSeen.params.name)
        StepRunner.run(script, 'demoStep', [name: '{"a":1}'])
        assertEquals('{"a":1}', docSeen.params.name)
    }

    @Test
    void itRunsAnotherVerbWithItsOwnFilesLabelAndInput() {
        Map r = StepRunner.runVerb(script, 'demoStep', 'verify', [name: 'x', loginCredentialsId: 'login'], [answer: "ok"])
        assertEquals(42, r.answer)
        Map sh = shCalls().find { it.label == 'demoStep: verify' }
        assertEquals("mkdir -p '.release-gates' && rm -f '.release-gates/demoStep-verify.json'\n'/opt/demo-helper' 'verify' " +
            "'--params' '.release-gates/demoStep-verify.params.json' '--result-file' '.release-gates/demoStep-verify.json'\n", sh.script)
        assertEquals([answer: 'ok'], docSeen.input)
        assertEquals([loginUsername: 'DEMO_USER', loginPassword: 'DEMO_PASS'], docSeen.secrets)
    }

    @Test
    void itChecksTheMapAgainstTheSchemaBeforeAnySh() {
        assertEquals("demoStep: parameter 'name' is required (see vars/demoStep.txt)", failureOf { StepRunner.run(script, 'demoStep', [:]) })
        assertEquals("demoStep: parameter 'name' is required (see vars/demoStep.txt)", failureOf { StepRunner.run(script, 'demoStep', [name: ' ']) })
        assertEquals("demoStep: parameter 'count' must be an Integer, got String '3' (see vars/demoStep.txt)",
            failureOf { StepRunner.run(script, 'demoStep', [name: 'x', count: '3']) })
        assertEquals("demoStep: unknown parameters 'a', 'b'; known parameters: count, loginCredentialsId, name, resultFile, tokenCredentialsId (see vars/demoStep.txt)",
            failureOf { StepRunner.run(script, 'demoStep', [name: 'x', b: 1, a: 2]) })
        assertEquals([], shCalls())
    }

    @Test
    void itsValidateEntryPointChecksWithoutRunningAndReturnsTheSchema() {
        assertEquals(SCHEMA.helper, StepRunner.validate(script, 'demoStep', [name: 'x']).helper)
        assertEquals("demoStep: parameter 'name' is required (see vars/demoStep.txt)", failureOf { StepRunner.validate(script, 'demoStep', null) })
        assertEquals([], shCalls())
        assertEquals([], callsTo('writeFile'))
    }

    @Test
    void itNamesTheMissingSchema() {
        String msg = failureOf { StepRunner.run(script, 'noSuchStep', [:]) }
        assertTrue(msg, msg.startsWith('noSuchStep: the library has no resources/steps/noSuchStep.json') && msg.endsWith('regenerate it with make generate'))
    }
}
