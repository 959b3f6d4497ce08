import com.sun.net.httpserver.HttpExchange
import com.sun.net.httpserver.HttpHandler
import com.sun.net.httpserver.HttpServer
import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic
import io.releasegates.HelperRunner
import org.junit.AfterClass
import org.junit.After
import org.junit.Before
import org.junit.BeforeClass
import org.junit.Test

import java.nio.file.Files
import java.security.MessageDigest
import java.util.concurrent.TimeUnit

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/**
 * A real release, end to end: test/release/make-test-release.sh clones this repository, commits a throwaway
 * release key and runs `make release VERSION=v0.0.0-test` (linux/amd64 and linux/arm64, each built twice); dist/ is
 * served on loopback in the <baseUrl>/<version>/<file> layout, and HelperRunner (real sh: curl, openssl) downloads,
 * verifies and runs every helper from it, and refuses each tampered piece naming the expected and actual digests.
 */
class ReleaseDownloadRealTest extends PipelineTestBase {
    static final String VERSION = 'v0.0.0-test'
    static final String STEP = 'releaseTest'
    /** The fixture: OUT/release-gates is the clone (dist/, resources/helpers.lock), OUT/keys the two key pairs. */
    static File OUT, CLONE, DIST
    static long releaseSeconds

    HttpServer server
    /** Bytes served instead of dist/'s, by request path. */
    Map<String, byte[]> served = [:]
    List<String> requests = []
    Map lock
    String pub
    Script script

    @BeforeClass
    static void makeTheRelease() {
        OUT = Files.createTempDirectory('rg-release-').toFile().canonicalFile
        CLONE = new File(OUT, 'release-gates')
        DIST = new File(CLONE, 'dist')
        File log = new File(OUT, 'fixture.log')
        ProcessBuilder pb = new ProcessBuilder('bash', new File(REPO, 'test/release/make-test-release.sh').path, OUT.path)
        pb.environment().put('RG_BIN', HELPER_BIN.path)
        pb.redirectErrorStream(true).redirectOutput(log)
        long start = System.nanoTime()
        Process p = pb.start()
        if (!p.waitFor(15, TimeUnit.MINUTES)) {
            p.destroyForcibly()
            fail("make-test-release.sh did not finish within 15 minutes:\n${log.text}")
        }
        releaseSeconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start)
        if (p.exitValue() != 0) {
            String release = new File(OUT, 'release.log').exists() ? new File(OUT, 'release.log').readLines().takeRight(40).join('\n') : ''
            fail("make-test-release.sh exited ${p.exitValue()}:\n${log.text}\n${release}")
        }
        System.err.println("ReleaseDownloadRealTest: the test release took ${releaseSeconds} s (make release, 2 platforms x 2 builds)")
    }

    @AfterClass
    static void removeTheRelease() {
        OUT?.deleteDir()
    }

    @Before
    void serveDistOnLoopback() {
        realSh = true
        server = HttpServer.create(new InetSocketAddress('127.0.0.1', 0), 0)
        server.createContext('/', { HttpExchange x ->
            String path = x.requestURI.path
            synchronized (requests) {
                requests.add(path)
            }
            byte[] body = served[path]
            if (body == null && path.startsWith("/${VERSION}/") && !path.substring(VERSION.length() + 2).contains('/')) {
                File f = new File(DIST, path.substring(VERSION.length() + 2))
                body = f.file ? f.bytes : null
            }
            x.sendResponseHeaders(body == null ? 404 : 200, body == null ? -1 : body.length)
            if (body != null) {
                x.responseBody.write(body)
            }
            x.close()
        } as HttpHandler)
        server.start()
        lock = (Map) new JsonSlurperClassic().parseText(new File(CLONE, 'resources/helpers.lock').text)
        pub = new File(CLONE, 'resources/release-signing.pub').text
        resources['helpers.lock'] = new File(CLONE, 'resources/helpers.lock').text
        resources['release-signing.pub'] = pub
        env.RELEASE_GATES_HELPER_DIR = null
        env.RELEASE_GATES_CACHE_DIR = new File(workspace, 'tool-cache').path
        env.RELEASE_GATES_HELPER_URL = "http://127.0.0.1:${server.address.port}".toString()
        env.PATH = '/usr/local/bin:/usr/bin:/bin' // no helper of this version on PATH: every one is downloaded
        script = new GroovyShell(this.class.classLoader, binding).parse('1')
    }

    @After
    void stopServer() {
        server?.stop(0)
    }

    static List<String> helpers() {
        String line = new File(CLONE, 'Makefile').readLines().find { it.startsWith('HELPERS := ') }
        return line.substring('HELPERS := '.length()).tokenize(' ')
    }

    static String hostPlatform() {
        String arch = ['uname', '-m'].execute().text.trim()
        return 'linux/' + ([x86_64: 'amd64', aarch64: 'arm64'][arch] ?: arch)
    }

    static String sha256(byte[] b) {
        return MessageDigest.getInstance('SHA-256').digest(b).encodeHex().toString()
    }

    /** Returns the sha256 of a PEM public key's DER (SubjectPublicKeyInfo), as openssl pkey -outform DER writes it. */
    static String keyDigest(String pem) {
        String b64 = pem.readLines().findAll { !it.startsWith('-----') }.join('')
        return sha256(b64.decodeBase64())
    }

    /** Returns the ELF e_machine of a binary: 62 x86-64, 183 AArch64. */
    static int elfMachine(byte[] b) {
        assertEquals('an ELF file', [0x7f, 0x45, 0x4c, 0x46], b[0..3].collect { it & 0xff })
        return (b[18] & 0xff) | ((b[19] & 0xff) << 8)
    }

    String pin(String helper, String platform) {
        return lock.helpers[helper][platform].sha256
    }

    String url(String file) {
        return "${env.RELEASE_GATES_HELPER_URL}/${VERSION}/${file}".toString()
    }

    File cached(String helper, String platform) {
        return new File(env.RELEASE_GATES_CACHE_DIR.toString(), "${VERSION}/${platform.replace('/', '-')}/${helper}")
    }

    String failureOf(String helper) {
        try {
            HelperRunner.locate(script, STEP, helper)
        } catch (PipelineError e) {
            return e.message
        }
        fail("expected the download of ${helper} to be refused")
    }

    /** Runs cmd, returning [exit code, output]. */
    static List run(List<String> cmd) {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start()
        String out = p.inputStream.text
        return [p.waitFor(), out]
    }

    @Test
    void theReleasePinsEveryBuildOfBothPlatformsInTheLockAndTheSignedSha256Sums() {
        assertEquals(VERSION, lock.version)
        assertEquals(helpers().sort(), lock.helpers.keySet().sort())
        Map sums = [:]
        new File(DIST, 'SHA256SUMS').eachLine { l -> List w = l.tokenize(' '); sums[w[1]] = w[0] }
        assertEquals(helpers().size() * 2, sums.size())
        for (String h : helpers()) {
            for (String platform : ['linux/amd64', 'linux/arm64']) {
                String file = "${h}-${platform.replace('/', '-')}"
                byte[] b = new File(DIST, file).bytes
                assertEquals(file, sha256(b), sums[file])
                assertEquals(file, sha256(b), pin(h, platform))
                assertEquals(file, platform == 'linux/amd64' ? 62 : 183, elfMachine(b))
            }
        }
        List v = run(['openssl', 'dgst', '-sha256', '-verify', new File(CLONE, 'resources/release-signing.pub').path, '-signature',
                      sigDer(new File(DIST, 'SHA256SUMS.sig')).path, new File(DIST, 'SHA256SUMS').path])
        assertEquals("openssl verifies dist/SHA256SUMS.sig with the committed key: ${v[1]}", 0, v[0])
        String log = new File(OUT, 'release.log').text
        assertTrue(log, log.contains("release: RELEASE_KEY matches resources/release-signing.pub (sha256 ${keyDigest(pub)})"))
        assertTrue(log, log.contains("release: ${VERSION} (revision "))
        // openssl (as agents check) and the stock cosign verify-blob that make release builds with tools.sh: release.sh
        // refuses to run without that cosign, so the interop check cannot quietly drop out.
        assertEquals(log, 2, log.readLines().count { it == 'Verified OK' })
        assertTrue(log, log.contains('release: sign-artifacts, openssl and the stock cosign verify dist/SHA256SUMS.sig with resources/release-signing.pub'))
    }

    /** Writes a base64 .sig as DER next to it, for openssl. */
    File sigDer(File sig) {
        File der = new File(workspace, sig.name + '.der')
        der.bytes = sig.text.trim().decodeBase64()
        return der
    }

    @Test
    void itDownloadsVerifiesAndRunsEveryHelperOfTheRelease() {
        String platform = hostPlatform()
        for (String h : helpers()) {
            String path = HelperRunner.locate(script, STEP, h)
            assertEquals(cached(h, platform).path, path)
            assertEquals(pin(h, platform), sha256(new File(path).bytes))
            String out = script.sh(label: "${h} --version", returnStdout: true, script: "'${path}' --version").toString().trim()
            assertEquals("${h} --version printed: ${out}", VERSION, out.readLines().first().tokenize(' ').last())
        }
        List want = helpers().collectMany { h -> ['SHA256SUMS', 'SHA256SUMS.sig', "${h}-${platform.replace('/', '-')}"] }
        assertEquals(want.collect { "/${VERSION}/${it}".toString() }, requests)

        // The downloaded sign-artifacts, run through the runner, verifies the release it came from.
        ['SHA256SUMS', 'SHA256SUMS.sig'].each { f -> new File(workspace, f).bytes = new File(DIST, f).bytes }
        new File(workspace, 'release-signing.pub').text = pub
        Map r = HelperRunner.run(script, [step: STEP, helper: 'sign-artifacts', verb: 'blob verify',
                                          args: ['--key', 'release-signing.pub'], positional: ['SHA256SUMS']])
        assertEquals('passed', r.status)
        assertEquals(want.size(), requests.size()) // from the cache: nothing downloaded again
    }

    @Test
    void itDownloadsAndVerifiesTheArm64BuildsOnAnArm64Agent() {
        File fake = new File(workspace, 'fake-bin')
        fake.mkdirs()
        File uname = new File(fake, 'uname')
        uname.text = '#!/bin/sh\nif [ "$1" = -m ]; then echo aarch64; else exec /usr/bin/uname "$@"; fi\n'
        uname.setExecutable(true)
        env.PATH = "${fake.path}:${env.PATH}".toString()
        for (String h : helpers()) {
            String path = HelperRunner.locate(script, STEP, h)
            assertEquals(cached(h, 'linux/arm64').path, path)
            byte[] b = new File(path).bytes
            assertEquals(pin(h, 'linux/arm64'), sha256(b))
            assertEquals(183, elfMachine(b))
        }
    }

    @Test
    void itRefusesATamperedBinaryAndNamesBothDigests() {
        String platform = hostPlatform()
        String file = "go-build-gate-${platform.replace('/', '-')}"
        byte[] b = new File(DIST, file).bytes
        b[b.length.intdiv(2)] = (byte) (b[b.length.intdiv(2)] ^ 0x01)
        served["/${VERSION}/${file}".toString()] = b
        assertEquals("${STEP}: refusing to run go-build-gate ${VERSION} downloaded from ${url(file)}: sha256 mismatch, ".toString() +
            "expected ${pin('go-build-gate', platform)} (helpers.lock), got ${sha256(b)}", failureOf('go-build-gate'))
        assertFalse(cached('go-build-gate', platform).exists())
        assertEquals([], cached('go-build-gate', platform).parentFile.list() as List)
    }

    @Test
    void itRefusesADownloadWhoseBytesDifferFromTheLock() {
        String platform = hostPlatform()
        String file = "sign-artifacts-${platform.replace('/', '-')}"
        byte[] full = new File(DIST, file).bytes
        Map variants = ['a download cut short'                  : full[0..<(full.length.intdiv(2))] as byte[],
                        'the other platform\'s build, also signed': new File(DIST, 'sign-artifacts-linux-arm64').bytes]
        variants.each { String what, byte[] b ->
            served["/${VERSION}/${file}".toString()] = b
            assertEquals(what, "${STEP}: refusing to run sign-artifacts ${VERSION} downloaded from ${url(file)}: sha256 mismatch, ".toString() +
                "expected ${pin('sign-artifacts', platform)} (helpers.lock), got ${sha256(b)}", failureOf('sign-artifacts'))
            assertFalse(what, cached('sign-artifacts', platform).exists())
        }
    }

    @Test
    void itRefusesASha256SumsTamperedAfterSigningAndFetchesNoBinary() {
        String platform = hostPlatform()
        String file = "slack-approval-${platform.replace('/', '-')}"
        String evil = 'ee' * 32 // an attacker's build, listed in place of the release's
        String sums = new File(DIST, 'SHA256SUMS').text.replace(pin('slack-approval', platform), evil)
        served["/${VERSION}/SHA256SUMS".toString()] = sums.bytes
        assertEquals(badSignature('slack-approval', file, sha256(sums.bytes), evil), failureOf('slack-approval'))
        assertEquals(["/${VERSION}/SHA256SUMS".toString(), "/${VERSION}/SHA256SUMS.sig".toString()], requests)
        assertFalse(cached('slack-approval', platform).exists())
    }

    String badSignature(String helper, String file, String sumsDigest, String listed) {
        return "${STEP}: refusing to download ${helper} ${VERSION}: the signature ${url('SHA256SUMS.sig')} does not verify SHA256SUMS ".toString() +
            "(sha256 ${sumsDigest}) with the release key (resources/release-signing.pub, sha256 ${keyDigest(pub)}): the mirror serves " +
            "files the release did not sign; that SHA256SUMS lists sha256 ${listed} for ${file}, helpers.lock expects ${pin(helper, hostPlatform())}"
    }

    @Test
    void itRefusesASignatureMadeByAnotherKey() {
        String platform = hostPlatform()
        File other = new File(OUT, 'other-sig/SHA256SUMS.sig')
        // A valid signature of the real SHA256SUMS, by a key the library does not trust.
        List v = run(['openssl', 'dgst', '-sha256', '-verify', new File(OUT, 'keys/other.pub').path, '-signature', sigDer(other).path,
                      new File(DIST, 'SHA256SUMS').path])
        assertEquals("the other key's signature is valid: ${v[1]}", 0, v[0])
        served["/${VERSION}/SHA256SUMS.sig".toString()] = other.bytes
        String file = "release-evidence-${platform.replace('/', '-')}"
        assertEquals(badSignature('release-evidence', file, sha256(new File(DIST, 'SHA256SUMS').bytes), pin('release-evidence', platform)),
            failureOf('release-evidence'))
        assertFalse(cached('release-evidence', platform).exists())
        assertEquals(2, requests.size())
    }

    @Test
    void itRefusesWhenTheLockAndTheSignedSha256SumsDisagree() {
        String platform = hostPlatform()
        String other = pin('go-build-gate', 'linux/arm64')
        Map l = new JsonSlurperClassic().parseText(resources['helpers.lock'])
        l.helpers['go-build-gate'][platform].sha256 = other
        resources['helpers.lock'] = JsonOutput.toJson(l)
        String file = "go-build-gate-${platform.replace('/', '-')}"
        assertEquals("${STEP}: refusing to download go-build-gate ${VERSION}: the signed ${url('SHA256SUMS')} lists sha256 ".toString() +
            "${pin('go-build-gate', platform)} for ${file}, expected ${other} (helpers.lock)", failureOf('go-build-gate'))
        assertFalse(cached('go-build-gate', platform).exists())
        assertEquals(2, requests.size())
    }

    @Test
    void makeReleaseRefusesBadInputBeforeBuildingWithExitCode2() {
        File junk = new File(workspace, 'not-a-key.pub')
        junk.text = 'not a key\n'
        Map cases = [
            (['VERSION=1.0']) : 'release: VERSION=1.0 is not a release tag: run make release VERSION=v1.2.3 (see docs/versioning.md)',
            ([])              : 'release: RELEASE_KEY is not set: export RELEASE_KEY=file:///path/cosign.key (password in COSIGN_PASSWORD) or a pkcs11: URI',
            (["TRUSTED_KEY=${junk.path}".toString(), "RELEASE_KEY=file://${OUT}/keys/release.key".toString()]):
                "release: ${junk.path} is not a PEM public key: restore it from git".toString(),
            // No stock cosign to verify the signature with: refused up front, never skipped.
            (["RG_TOOLS_DIR=${workspace}/no-tools".toString(), "RELEASE_KEY=file://${OUT}/keys/release.key".toString()]):
                ("release: the stock cosign is missing at ${workspace}/no-tools/bin/cosign; it verifies the release's signature: " +
                 'run make release (which builds it) or test/scripts/tools.sh cosign; nothing was built').toString(),
            (['RELEASE_KEY=pkcs11:token=release;object=k?module-path=/x.so&pin-value=s3cret-1234']):
                'release: RELEASE_KEY carries a pin-value: remove it from the pkcs11: URI and export the PIN as PKCS11_PIN (secrets never go on a command line)',
        ]
        cases.each { List vars, String want ->
            List cmd = ['env', "DIST=${workspace}/dist".toString(), 'VERSION=' + VERSION] + vars + ['scripts/release.sh']
            Process p = new ProcessBuilder(cmd).directory(CLONE).redirectErrorStream(true).start()
            String out = p.inputStream.text
            assertEquals(out, 2, p.waitFor())
            assertTrue(out, out.readLines().contains(want))
            assertFalse(out, out.contains('release: building'))
            assertFalse(out, out.contains('s3cret-1234'))
        }
    }

    @Test
    void makeReleaseRefusesAReleaseKeyThatDoesNotMatchTheCommittedPublicKeyBeforeBuilding() {
        String log = new File(OUT, 'wrong-key.log').text
        assertEquals(log, '2', new File(OUT, 'wrong-key.code').text.trim())
        String want = keyDigest(pub), got = keyDigest(new File(OUT, 'keys/other.pub').text)
        assertTrue(want != got)
        assertTrue(log, log.contains("release: RELEASE_KEY does not match resources/release-signing.pub, the key agents trust: " +
            "its public key has sha256 ${got}, resources/release-signing.pub has sha256 ${want} (DER)"))
        assertFalse(log, log.contains('release: building'))
        // The refused run left the good release alone (the download tests use it too).
        assertEquals(lock.helpers['go-build-gate'][hostPlatform()].sha256, sha256(new File(DIST, "go-build-gate-${hostPlatform().replace('/', '-')}").bytes))
        assertTrue(new File(DIST, 'SHA256SUMS.sig').file)
    }

    @Test
    void makeReleaseExits3WhenTheGoProxyIsUnreachableAndBuildsNothing() {
        File modcache = new File(workspace, 'empty-modcache')
        modcache.mkdirs()
        List cmd = ['env', "DIST=${workspace}/dist".toString(), 'VERSION=' + VERSION, "RELEASE_KEY=file://${OUT}/keys/release.key".toString(),
                    'GOPROXY=http://127.0.0.1:1/', "GOMODCACHE=${modcache.path}".toString(), 'GOFLAGS=-modcacherw', 'scripts/release.sh']
        Process p = new ProcessBuilder(cmd).directory(CLONE).redirectErrorStream(true).start()
        String out = p.inputStream.text
        assertEquals(out, 3, p.waitFor())
        assertTrue(out, out.readLines().any { it.startsWith('release: the Go module proxy is unreachable (GOPROXY=http://127.0.0.1:1/, 3 attempts): ') &&
            it.contains('connection refused') })
        assertFalse(out, out.contains('release: building'))
        assertFalse(new File(workspace, 'dist').exists())
    }
}
