import com.sun.net.httpserver.HttpExchange
import com.sun.net.httpserver.HttpHandler
import com.sun.net.httpserver.HttpServer
import groovy.json.JsonOutput
import io.releasegates.HelperRunner
import org.junit.After
import org.junit.Before
import org.junit.Test

import java.security.KeyPair
import java.security.KeyPairGenerator
import java.security.MessageDigest
import java.security.Signature
import java.security.spec.ECGenParameterSpec

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/**
 * HelperRunner's bootstrap against a loopback HTTP server: PATH version check, signed SHA256SUMS (ECDSA P-256, verified
 * with openssl on the agent), sha256 pinning against the lock and SHA256SUMS, caching per version, failures.
 */
class HelperDownloadTest extends PipelineTestBase {
    static final String HELPER = 'rg-download-stub'
    static final String VERSION = 'v9.9.9-test'
    /** The release signing key of this test run, and another one that must not be trusted. */
    static final KeyPair RELEASE_KEY = newKeyPair(), OTHER_KEY = newKeyPair()
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
        served[binPath()] = helperBytes
        publishSums("${sha256('other'.bytes)}  go-build-gate-linux-riscv64\n${sha256(helperBytes)}  ${binName()}\n", RELEASE_KEY)
        resources['release-signing.pub'] = pem(RELEASE_KEY)
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

    String binName() {
        return "${HELPER}-${platform.replace('/', '-')}".toString()
    }

    String binPath() {
        return "/${VERSION}/${binName()}".toString()
    }

    /** Serves SHA256SUMS with text and SHA256SUMS.sig signed by key, as cosign sign-blob writes it (base64 DER ECDSA over sha256). */
    void publishSums(String text, KeyPair key) {
        served["/${VERSION}/SHA256SUMS".toString()] = text.bytes
        Signature s = Signature.getInstance('SHA256withECDSA')
        s.initSign(key.private)
        s.update(text.bytes)
        served["/${VERSION}/SHA256SUMS.sig".toString()] = s.sign().encodeBase64().toString().bytes
    }

    static KeyPair newKeyPair() {
        KeyPairGenerator g = KeyPairGenerator.getInstance('EC')
        g.initialize(new ECGenParameterSpec('secp256r1'))
        return g.generateKeyPair()
    }

    /** Returns the public key as PEM, the format of cosign's .pub files. */
    static String pem(KeyPair key) {
        String b64 = key.public.encoded.encodeBase64().toString()
        return "-----BEGIN PUBLIC KEY-----\n${b64.toList().collate(64)*.join().join('\n')}\n-----END PUBLIC KEY-----\n".toString()
    }

    List<String> allThree() {
        return ["/${VERSION}/SHA256SUMS".toString(), "/${VERSION}/SHA256SUMS.sig".toString(), binPath()]
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
        assertEquals(allThree(), requests)
        assertEquals([], cached().parentFile.list().findAll { it != HELPER })
        assertEquals('passed', run().status)
        assertEquals(3, requests.size())
        assertEquals(['demoStep: locate rg-download-stub', 'demoStep: download rg-download-stub v9.9.9-test', 'demoStep: check',
                      'demoStep: locate rg-download-stub', 'demoStep: check'], shCalls()*.label)
    }

    @Test
    void itRefusesAHelperWhoseChecksumDoesNotMatchAndNamesBothDigests() {
        String want = 'ab' * 32
        lockPins(want)
        publishSums("${want}  ${binName()}\n", RELEASE_KEY)
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
        served.remove(binPath())
        String url = "${env.RELEASE_GATES_HELPER_URL}/${VERSION}/${HELPER}-${platform.replace('/', '-')}"
        String message = "demoStep: downloading ${HELPER} ${VERSION} for ${platform} failed (failed curl-exit-22 ${url}): " +
            "set RELEASE_GATES_HELPER_URL to a reachable mirror or install the helper on the agent's PATH"
        assertEquals(message, failureOf())
        assertFalse(cached().exists())
        assertEquals([], cached().parentFile.list() as List)
    }

    @Test
    void itRefusesASha256SumsWhoseSignatureDoesNotVerifyWithTheReleaseKeyAndFetchesNoBinary() {
        String sums = "${sha256(helperBytes)}  ${binName()}\n"
        publishSums(sums, OTHER_KEY)
        assertEquals("demoStep: refusing to download ${HELPER} ${VERSION}: the signature ${env.RELEASE_GATES_HELPER_URL}/${VERSION}/SHA256SUMS.sig ".toString() +
            "does not verify SHA256SUMS (sha256 ${sha256(sums.bytes)}) with the release key (resources/release-signing.pub, " +
            "sha256 ${sha256(RELEASE_KEY.public.encoded)}): the mirror serves files the release did not sign; that SHA256SUMS " +
            "lists sha256 ${sha256(helperBytes)} for ${binName()}, helpers.lock expects ${sha256(helperBytes)}", failureOf())
        assertEquals(allThree().take(2), requests)
        assertFalse(cached().exists())
        assertEquals([], cached().parentFile.list() as List)
    }

    @Test
    void itRefusesASha256SumsChangedAfterSigning() {
        publishSums("${sha256(helperBytes)}  ${binName()}\n", RELEASE_KEY)
        String tampered = "${'cd' * 32}  ${binName()}\n"
        served["/${VERSION}/SHA256SUMS".toString()] = tampered.bytes
        String message = failureOf()
        assertTrue(message, message.startsWith("demoStep: refusing to download ${HELPER} ${VERSION}: the signature "))
        assertTrue(message, message.contains("SHA256SUMS (sha256 ${sha256(tampered.bytes)})"))
        assertTrue(message, message.endsWith("that SHA256SUMS lists sha256 ${'cd' * 32} for ${binName()}, helpers.lock expects ${sha256(helperBytes)}"))
        assertFalse(cached().exists())
    }

    @Test
    void itRefusesWhenTheSignedSha256SumsAndTheLockDisagreeAndNamesBothDigests() {
        String listed = 'cd' * 32
        publishSums("${listed}  ${binName()}\n", RELEASE_KEY)
        assertEquals("demoStep: refusing to download ${HELPER} ${VERSION}: the signed ${env.RELEASE_GATES_HELPER_URL}/${VERSION}/SHA256SUMS ".toString() +
            "lists sha256 ${listed} for ${binName()}, expected ${sha256(helperBytes)} (helpers.lock)", failureOf())
        assertEquals(allThree().take(2), requests)
        assertFalse(cached().exists())
    }

    @Test
    void itRefusesWhenTheSignedSha256SumsDoesNotListTheHelper() {
        publishSums("${sha256(helperBytes)}  ${binName()}-other\n", RELEASE_KEY)
        assertTrue(failureOf().contains("lists sha256 none for ${binName()}, expected ${sha256(helperBytes)} (helpers.lock)"))
    }

    @Test
    void itFailsClearlyWhenTheSignatureCannotBeDownloaded() {
        served.remove("/${VERSION}/SHA256SUMS.sig".toString())
        String url = "${env.RELEASE_GATES_HELPER_URL}/${VERSION}/SHA256SUMS.sig"
        assertEquals("demoStep: downloading ${HELPER} ${VERSION} for ${platform} failed (failed curl-exit-22 ${url}): ".toString() +
            "set RELEASE_GATES_HELPER_URL to a reachable mirror or install the helper on the agent's PATH", failureOf())
        assertFalse(cached().exists())
    }

    @Test
    void itRefusesToDownloadWithoutAReleaseKeyInTheLibrary() {
        ['', 'not a key', null].each { k ->
            if (k == null) {
                resources.remove('release-signing.pub') // the shipped library has no key yet: libraryResource fails
            } else {
                resources['release-signing.pub'] = k
            }
            assertEquals("demoStep: helper ${HELPER} is not on this agent and resources/release-signing.pub holds no PEM public key, ".toString() +
                "so a download cannot be verified: install the helper on the agent's PATH or set RELEASE_GATES_HELPER_DIR", failureOf())
        }
        assertEquals([], requests)
    }

    @Test
    void itUsesAHelperOnThePathWhoseVersionMatchesTheLockWithoutDownloading() {
        File onPath = StubHelper.write(new File(workspace, 'path-bin'), HELPER)
        env.PATH = "${onPath.parent}:${System.getenv('PATH')}".toString()
        env.STUB_VERSION = VERSION
        assertEquals('passed', run().status)
        assertEquals([], requests)
        assertFalse(cached().exists())
        assertEquals(['demoStep: locate rg-download-stub', 'demoStep: check'], shCalls()*.label)
    }

    @Test
    void itSkipsAHelperOnThePathOfAnotherVersionAndDownloadsTheLockedOne() {
        File onPath = StubHelper.write(new File(workspace, 'path-bin'), HELPER)
        env.PATH = "${onPath.parent}:${System.getenv('PATH')}".toString()
        env.STUB_VERSION = 'v0.0.1'
        assertEquals('passed', run().status)
        assertEquals(allThree(), requests)
        assertTrue(cached().canExecute())
        assertTrue(console.toString(), console.toString().contains(
            "demoStep: not using ${onPath.path} from PATH: it reports version v0.0.1, helpers.lock pins ${VERSION}\n"))
    }

    @Test
    void itRunsACachedHelperWithoutAnyRequestWhenItMatchesTheLock() {
        cached().parentFile.mkdirs()
        cached().bytes = helperBytes
        cached().setExecutable(true)
        assertEquals('passed', run().status)
        assertEquals([], requests)
    }

    @Test
    void itDownloadsAgainWhenTheCachedHelperDoesNotMatchTheLock() {
        cached().parentFile.mkdirs()
        cached().text = '#!/bin/sh\necho tampered\nexit 9\n'
        cached().setExecutable(true)
        assertEquals('passed', run().status)
        assertEquals(allThree(), requests)
        assertEquals(sha256(helperBytes), sha256(cached().bytes))
        assertTrue(console.toString().contains("demoStep: cached ${cached().path} has sha256 "))
    }

    @Test
    void itUsesTheLockBaseUrlWhenNoOverrideIsSet() {
        env.RELEASE_GATES_HELPER_URL = null
        resources['helpers.lock'] = JsonOutput.toJson([version: VERSION, baseUrl: "http://127.0.0.1:${server.address.port}/",
                                                        helpers: [(HELPER): [(platform): [sha256: sha256(helperBytes)]]]])
        assertEquals('passed', run().status)
        assertEquals(3, requests.size())
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
        String helpers = new File(REPO, 'Makefile').readLines().find { it.startsWith('HELPERS := ') }.substring('HELPERS := '.length())
        assertEquals('the lock pins every helper the Makefile builds', helpers.tokenize(' ').sort(), lock.helpers.keySet().sort())
        lock.helpers.each { name, builds -> assertEquals(['linux/amd64', 'linux/arm64'], builds.keySet().sort()) }
        assertTrue(lock.version ==~ /v\d+\.\d+\.\d+/)
    }
}
