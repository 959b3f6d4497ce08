import org.junit.Before
import org.junit.BeforeClass
import org.junit.Test

import java.nio.file.Files

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/**
 * goBuildGate end to end: real sh, the real bin/go-build-gate (make helpers; fails, never skips, when it is
 * missing) and the example service from test/fixtures/example-service, built once for the class.
 */
class GoBuildGateRealTest extends PipelineTestBase {
    static final File FIXTURE = new File(REPO, 'test/fixtures/example-service')
    static File serviceBinary

    @BeforeClass
    static void buildTheExampleService() {
        File out = Files.createTempDirectory('rg-orders-').toFile()
        out.deleteOnExit()
        serviceBinary = new File(out, 'orders')
        ProcessBuilder pb = new ProcessBuilder('go', 'build', '-o', serviceBinary.path, '.').directory(FIXTURE).redirectErrorStream(true)
        pb.environment().put('GOTOOLCHAIN', 'local')
        Process p = pb.start()
        String log = p.inputStream.text
        assertEquals("go build of ${FIXTURE} failed:\n${log}".toString(), 0, p.waitFor())
    }

    int port

    @Before
    void copyTheServiceIntoTheWorkspace() {
        useRealHelpers()
        File svc = new File(workspace, 'svc')
        ['go.mod', 'go.sum', 'main.go', 'docs/v1/swagger.json', 'docs/v2-compatible/swagger.json', 'docs/v2-breaking/swagger.json'].each { rel ->
            File to = new File(svc, rel)
            to.parentFile.mkdirs()
            to.bytes = new File(FIXTURE, rel).bytes
        }
        File bin = new File(svc, 'orders')
        bin.bytes = serviceBinary.bytes
        bin.setExecutable(true)
        port = new ServerSocket(0, 1, InetAddress.getByName('127.0.0.1')).withCloseable { it.localPort }
    }

    Map gate(String spec) {
        return [dir: 'svc', spec: spec, baseSpec: 'docs/v1/swagger.json', smokeCommand: './orders', smokeEnv: [PORT: port],
                healthUrl: "http://127.0.0.1:${port}/healthz".toString(), deadline: '30s', expectBody: [status: 'ok']]
    }

    String failureOf(Map config) {
        try {
            runStep('goBuildGate', config)
        } catch (PipelineError e) {
            return e.message
        }
        fail('expected goBuildGate to fail')
    }

    @Test
    void itPassesACompatibleChangeWithAllThreeChecks() {
        Map r = runStep('goBuildGate', gate('docs/v2-compatible/swagger.json'))
        assertEquals('passed', r.status)
        assertEquals(0, r.exit_code)
        assertEquals(env.RELEASE_TRACE_ID, r.trace_id)
        assertEquals([modverify: 'passed', apidiff: 'passed', smoke: 'passed'], r.items.collectEntries { [(it.name): it.status] })
        assertTrue(file('.release-gates/goBuildGate.junit.xml').text.contains('<testcase'))
        assertEquals(1, callsTo('junit').size())
        new ObjectOutputStream(new ByteArrayOutputStream()).writeObject(r)
        assertTrue(callsTo('echo')*.getAt(0).contains('goBuildGate:   smoke passed'))
    }

    @Test
    void itRejectsABreakingChangeNamingItAndStillPublishesJUnit() {
        String msg = failureOf(gate('docs/v2-breaking/swagger.json') + [checks: ['apidiff']])
        assertTrue(msg, msg.startsWith('goBuildGate: rejected: '))
        assertTrue(msg, msg.contains('api-path-removed-without-deprecation GET /orders/{id}'))
        assertTrue(msg, msg.contains('request-parameter-became-required GET /orders'))
        String junit = file('.release-gates/goBuildGate.junit.xml').text
        assertTrue(junit, junit.contains('<failure'))
        assertEquals([[[testResults: '.release-gates/goBuildGate.junit.xml', allowEmptyResults: true]]], callsTo('junit'))
        Map r = new groovy.json.JsonSlurperClassic().parseText(file('.release-gates/goBuildGate.json').text)
        List changes = r.items[0].details.items
        assertTrue(changes.toString(), changes.any { it.kind == 'api-change' && it.status == 'rejected' })
    }

    @Test
    void itReportsAMissingSpecAsBadInputNamingTheFile() {
        String msg = failureOf(gate('docs/nope/swagger.json') + [checks: ['apidiff']])
        assertTrue(msg, msg.startsWith('goBuildGate: bad input or configuration: '))
        assertTrue(msg, msg.contains('nope/swagger.json'))
    }

    @Test
    void itRejectsAServiceThatNeverAnswersItsHealthEndpoint() {
        int other = port
        while (other == port) { // a port just released can be handed out again at once: the service must not answer there
            other = new ServerSocket(0, 1, InetAddress.getByName('127.0.0.1')).withCloseable { it.localPort }
        }
        String msg = failureOf(gate('docs/v2-compatible/swagger.json') +
            [checks: ['smoke'], healthUrl: "http://127.0.0.1:${other}/healthz".toString(), deadline: '2s', tryTimeout: '200ms'])
        assertTrue(msg, msg.startsWith('goBuildGate: rejected: '))
    }

    @Test
    void itFailsClearlyWhenTheHelperDirLacksTheHelper() {
        File empty = new File(workspace, 'empty-bin')
        empty.mkdirs()
        env.RELEASE_GATES_HELPER_DIR = empty.path
        String want = "goBuildGate: helper go-build-gate not found or not executable in RELEASE_GATES_HELPER_DIR=${empty.path}: " +
            'build it there (make helpers) or unset RELEASE_GATES_HELPER_DIR'
        assertEquals(want, failureOf(gate('docs/v2-compatible/swagger.json')))
    }
}
