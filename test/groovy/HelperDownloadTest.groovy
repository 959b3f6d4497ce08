import com.sun.net.httpserver.HttpExchange
import com.sun.net.httpserver.HttpHandler
import com.sun.net.httpserver.HttpServer
import groovy.json.JsonOutput
import io.releasegates.HelperRunner
import org.junit.After
import org.junit.Before
import org.junit.Test

import java.security.MessageDigest

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/** HelperRunner's download path against a loopback HTTP server: sha256 pinning, caching, failures. */
class HelperDownloadTest extends PipelineTestBase {
    static final String HELPER = 'rg-download-stub'
    static final String VERSION = 'v9.9.9-test'
    HttpServer server
    Map<String, byte[]> served = [:]
    List<String> requests = []
    byte[] helperBytes
    String platform
    File cache
    Script script

    @Before
    void serveAHelperOnLoopback() {
        realSh = true
        server = HttpServer.create(new InetSocketAddress('127.0.0.1', 0), 0)
        server.createContext('/', { HttpExchange x ->
            String path = x.requestURI.path
            synchronized (requests) {
                requests.add(path)
            }
            byte[] body = served[path]
            x.sendResponseHeaders(body == null ? 404 : 200, body == null ? -1 : body.length)
            if (body != null) {
                x.responseBody.write(body)
            }
            x.close()
        } as HttpHandler)
        server.start()

        String arch = ['uname', '-m'].execute().text.trim()
        platform = 'linux/' + ([x86_64: 'amd64', aarch64: 'arm64'][arch] ?: arch)
        File src = StubHelper.write(new File(workspace, 'src'), HELPER)
        helperBytes = src.bytes
        served["/${VERSION}/${HELPER}-${platform.replace('/', '-')}".toString()] = helperBytes
        cache = new File(workspace, 'tool-cache')
        env.RELEASE_GATES_HELPER_DIR = null
        env.RELEASE_GATES_CACHE_DIR = cache.path
        env.RELEASE_GATES_HELPER_URL = "http://127.0.0.1:${server.address.port}".toString()
        lockPins(sha256(helperBytes))
        script = new GroovyShell(this.class.classLoader, binding).parse('1')
    }

    @After
    void stopServer() {
        server?.stop(0)
    }

    void lockPins(String digest) {
        resources['helpers.lock'] = JsonOutput.toJson([version: VERSION, baseUrl: 'http://127.0.0.1:9/unreachable',
                                                        helpers: [(HELPER): [(platform): [sha256: digest]]]])
    }

    static String sha256(byte[] b) {
        return MessageDigest.getInstance('SHA-256').digest(b).encodeHex().toString()
    }

    Map run() {
        return HelperRunner.run(script, [step: 'demoStep', helper: HELPER, verb: 'check', resultFile: 'out/r.json'])
    }

    String failureOf() {
        try {
            run()
        } catch (PipelineError e) {
            return e.message
        }
        fail('expected the run to fail')
    }

    File cached() {
        return new File(cache, "${VERSION}/${platform.replace('/', '-')}/${HELPER}")
    }

    @Test
    void itDownloadsVerifiesAndRunsAHelperWhoseChecksumMatchesThenReusesTheCache() {
        assertEquals('passed', run().status)
        assertTrue(cached().canExecute())
        assertEquals(["/${VERSION}/${HELPER}-${platform.replace('/', '-')}".toString()], requests)
        assertEquals('passed', run().status)
        assertEquals(1, requests.size())
        assertEquals(['demoStep: locate rg-download-stub', 'demoStep: download rg-download-stub v9.9.9-test', 'demoStep: check',
                      'demoStep: locate rg-download-stub', 'demoStep: check'], shCalls()*.label)
    }

    @Test
    void itRefusesAHelperWhoseChecksumDoesNotMatchAndNamesBothDigests() {
        String want = 'ab' * 32
        lockPins(want)
        String url = "${env.RELEASE_GATES_HELPER_URL}/${VERSION}/${HELPER}-${platform.replace('/', '-')}"
        String message = "demoStep: refusing to run ${HELPER} ${VERSION} downloaded from ${url}: sha256 mismatch, expected ${want} " +
            "(helpers.lock), got ${sha256(helperBytes)}"
        assertEquals(message, failureOf())
        assertFalse(cached().exists())
        assertEquals([], cached().parentFile.list() as List)
        assertFalse(shCalls()*.label.contains('demoStep: check'))
    }

    @Test
    void itFailsClearlyWhenTheDownloadFails() {
        served.clear()
        String url = "${env.RELEASE_GATES_HELPER_URL}/${VERSION}/${HELPER}-${platform.replace('/', '-')}"
        String message = "demoStep: downloading ${HELPER} ${VERSION} for ${platform} failed (failed curl-exit-22 ${url}): " +
            "set RELEASE_GATES_HELPER_URL to a reachable mirror or install the helper on the agent's PATH"
        assertEquals(message, failureOf())
        assertFalse(cached().exists())
    }

    @Test
    void itUsesTheLockBaseUrlWhenNoOverrideIsSet() {
        env.RELEASE_GATES_HELPER_URL = null
        resources['helpers.lock'] = JsonOutput.toJson([version: VERSION, baseUrl: "http://127.0.0.1:${server.address.port}/",
                                                        helpers: [(HELPER): [(platform): [sha256: sha256(helperBytes)]]]])
        assertEquals('passed', run().status)
        assertEquals(1, requests.size())
    }

    @Test
    void itRefusesToDownloadWhatTheLockDoesNotPin() {
        ['unset', 'ABCDEF', 'ab' * 31, null].each { digest ->
            lockPins(digest)
            assertTrue(failureOf().startsWith("demoStep: helper ${HELPER} is not on this agent and helpers.lock pins no sha256 for ${platform} " +
                "(found '${digest}'): refusing to download an unverified helper"))
        }
        assertEquals([], requests)
    }

    @Test
    void itFailsClearlyWhenTheLockHasNoBuildForThisPlatform() {
        resources['helpers.lock'] = JsonOutput.toJson([version: VERSION, baseUrl: 'http://x', helpers: [(HELPER): ['plan9/mips': [sha256: 'ab' * 32]]]])
        assertEquals("demoStep: helper ${HELPER} is not on this agent and helpers.lock has no build for ${platform}: ".toString() +
            "install it on the agent's PATH or set RELEASE_GATES_HELPER_DIR", failureOf())
        assertEquals([], requests)
    }

    @Test
    void theShippedLockNamesEveryHelperForLinux() {
        resources.remove('helpers.lock')
        Map lock = HelperRunner.readLock(script, 'demoStep')
        assertEquals(['go-build-gate', 'sign-artifacts', 'slack-approval'], lock.helpers.keySet().sort())
        lock.helpers.each { name, builds -> assertEquals(['linux/amd64', 'linux/arm64'], builds.keySet().sort()) }
        assertTrue(lock.version ==~ /v\d+\.\d+\.\d+/)
    }
}
