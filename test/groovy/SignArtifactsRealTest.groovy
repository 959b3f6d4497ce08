import io.releasegates.HelperRunner
import org.junit.AfterClass
import org.junit.Before
import org.junit.Test

import java.nio.file.Files

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/** signArtifacts driving the real bin/sign-artifacts with a real sh: a generated cosign key pair, sign, verify, tamper. */
class SignArtifactsRealTest extends PipelineTestBase {
    static final String PASSWORD = 'real-test-pa55word'
    /** Key pairs generated once per run (scrypt makes generation slow), by prefix: KEYS/<name>.key and .pub. */
    static File keys
    static final Set<String> generated = [] as Set

    @Before
    void realHelpersAndCredentials() {
        useRealHelpers()
        credentials['cosign-password'] = PASSWORD
        File go = new File(workspace, 'svc')
        go.mkdirs()
        new File(go, 'go.sum').text = new File(REPO, 'go.sum').text
        new File(workspace, 'dist').mkdirs()
        new File(workspace, 'dist/orders-linux-amd64').bytes = (0..4095).collect { (byte) (it * 31) } as byte[]
        new File(workspace, 'dist/orders-linux-arm64').text = 'another build\n'
    }

    @AfterClass
    static void removeKeys() {
        keys?.deleteDir()
    }

    /** Generates (once) the key pair name with sign-artifacts keys generate, the password bound by withCredentials. */
    File keyPair(String name) {
        synchronized (generated) {
            if (keys == null) {
                keys = Files.createTempDirectory('rg-keys-').toFile()
            }
            if (generated.add(name)) {
                Script script = new GroovyShell(this.class.classLoader, binding).parse('1')
                Map r = HelperRunner.run(script, [step: 'test', helper: 'sign-artifacts', verb: 'keys generate',
                    args: ['--type', 'file', '--out-prefix', new File(keys, name).path], resultFile: '.release-gates/keygen.json',
                    credentials: [[$class: 'string', credentialsId: 'cosign-password', variable: 'COSIGN_PASSWORD']]])
                assertEquals('passed', r.status)
                assertFalse(shCalls()*.script.join('\n').contains(PASSWORD))
                calls.clear()
            }
        }
        return new File(keys, "${name}.key")
    }

    String failureOf(Map config) {
        try {
            runStep('signArtifacts', config)
        } catch (PipelineError e) {
            return e.message
        }
        fail('expected signArtifacts to fail')
    }

    @Test
    void itSignsBinariesAChecksumsFileAndGoSumWithAKeyCredentialSoThatOpensslAndTheHelperVerifyThem() {
        credentials['cosign-key'] = keyPair('release').text
        Map r = runStep('signArtifacts', [files: ['dist/orders-*', 'svc/go.sum'], checksums: 'dist/SHA256SUMS', allowDirty: true,
                                          keyCredentialsId: 'cosign-key', passwordCredentialsId: 'cosign-password'])
        assertEquals('passed', r.status)
        assertEquals(['dist/SHA256SUMS', 'dist/orders-linux-amd64', 'dist/orders-linux-arm64', 'svc/go.sum'], r.items*.name.sort())
        assertEquals(new File(keys, 'release.pub').text, file('.release-gates/signArtifacts.pub').text)
        assertEquals(['blobSign', 'blobVerify'] as Set, r.results.keySet() as Set)
        assertEquals(4, r.results.blobVerify.items.size())
        for (String f : ['dist/SHA256SUMS', 'dist/orders-linux-amd64', 'svc/go.sum']) {
            assertTrue(f, opensslVerifies(new File(keys, 'release.pub'), f))
        }
        assertTrue(file('dist/SHA256SUMS').text.contains('  orders-linux-amd64\n') || file('dist/SHA256SUMS').text.contains('orders-linux-amd64'))
        String all = shCalls()*.script.join('\n') + console
        assertFalse(all.contains(PASSWORD))
        assertFalse(all.contains('ENCRYPTED SIGSTORE PRIVATE KEY'))
    }

    @Test
    void itRejectsTheReleaseWhenTheVerifyKeyIsNotTheSigningKeysAndKeepsTheResultFiles() {
        credentials['cosign-key'] = keyPair('release').text
        keyPair('other')
        String msg = failureOf([files: ['svc/go.sum'], keyCredentialsId: 'cosign-key', passwordCredentialsId: 'cosign-password',
                                verifyKeys: [new File(keys, 'other.pub').path]])
        assertTrue(msg, msg.startsWith('signArtifacts: rejected: svc/go.sum: signature svc/go.sum.sig does not verify with any given key'))
        assertTrue(file('.release-gates/signArtifacts-blob-verify.json').text.contains('"failure_class"'))
        assertTrue(file('.release-gates/signArtifacts.json').exists())
    }

    @Test
    void itFailsWithABadInputErrorForAWrongPasswordWithoutEchoingIt() {
        credentials['cosign-key'] = keyPair('release').text
        credentials['wrong-password'] = 'n0t-the-password'
        String msg = failureOf([files: ['svc/go.sum'], keyCredentialsId: 'cosign-key', passwordCredentialsId: 'wrong-password'])
        assertTrue(msg, msg.startsWith('signArtifacts: '))
        assertTrue(msg, msg.contains("wrong password (check passwordCredentialsId: 'wrong-password')"))
        assertFalse(msg.contains('n0t-the-password'))
        assertFalse(console.toString().contains('n0t-the-password'))
        assertFalse(file('svc/go.sum.sig').exists())
    }

    @Test
    void itFailsClearlyWhenAGlobMatchesNothing() {
        assertEquals('signArtifacts: bad input or configuration: files: glob "build/*.tar.gz" matched no files: check the path and that the build produced them',
            failureOf([files: ['build/*.tar.gz'], key: keyPair('release').path, passwordCredentialsId: 'cosign-password']))
    }

    /** Verifies file's .sig with openssl as an agent without the helper would (base64 DER ECDSA over sha256). */
    boolean opensslVerifies(File pub, String path) {
        File der = new File(workspace, 'sig.der')
        der.bytes = file(path + '.sig').text.trim().decodeBase64()
        Process p = ['openssl', 'dgst', '-sha256', '-verify', pub.path, '-signature', der.path, file(path).path].execute()
        p.waitFor()
        return p.exitValue() == 0
    }
}
