import groovy.json.JsonOutput
import org.junit.AfterClass
import org.junit.Before
import org.junit.BeforeClass
import org.junit.Test

import java.nio.file.Files
import java.security.MessageDigest
import java.util.concurrent.TimeUnit

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/**
 * signArtifacts signing a real image in Debian's docker-registry on loopback with the real bin/sign-artifacts:
 * cosign and notation signatures by digest, then image verify with the exported key and a notation trust policy.
 */
class SignArtifactsImageRealTest extends PipelineTestBase {
    static final String PASSWORD = 'image-test-pa55word'
    static Process registry
    static File registryDir
    static String host

    @BeforeClass
    static void startRegistry() {
        registryDir = Files.createTempDirectory('rg-registry-').toFile()
        int port = new ServerSocket(0, 1, InetAddress.getByName('127.0.0.1')).withCloseable { it.localPort }
        host = "127.0.0.1:${port}".toString()
        File config = new File(registryDir, 'config.yml')
        config.text = "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${registryDir.path}/data\n" +
            "http:\n  addr: ${host}\n"
        registry = new ProcessBuilder('docker-registry', 'serve', config.path).redirectErrorStream(true)
            .redirectOutput(new File(registryDir, 'registry.log')).start()
        for (int i = 0; i < 600; i++) { // up to 60 s on a loaded machine
            try {
                HttpURLConnection c = (HttpURLConnection) new URL("http://${host}/v2/").openConnection()
                if (c.responseCode == 200) {
                    return
                }
            } catch (IOException ignored) {
                // not listening yet
            }
            Thread.sleep(100)
        }
        fail("docker-registry did not start on ${host}: ${new File(registryDir, 'registry.log').text}")
    }

    @AfterClass
    static void stopRegistry() {
        registry?.destroy()
        registry?.waitFor(5, TimeUnit.SECONDS)
        registryDir?.deleteDir()
    }

    static String sha256(byte[] b) {
        return 'sha256:' + MessageDigest.getInstance('SHA-256').digest(b).encodeHex()
    }

    /** Uploads bytes as a blob of repo through the registry's upload API. */
    static void pushBlob(String repo, byte[] bytes) {
        HttpURLConnection post = (HttpURLConnection) new URL("http://${host}/v2/${repo}/blobs/uploads/").openConnection()
        post.requestMethod = 'POST'
        post.doOutput = true
        post.outputStream.close()
        assertEquals(202, post.responseCode)
        String location = post.getHeaderField('Location')
        URL put = new URL(new URL("http://${host}/"), location + (location.contains('?') ? '&' : '?') + "digest=${sha256(bytes)}")
        HttpURLConnection c = (HttpURLConnection) put.openConnection()
        c.requestMethod = 'PUT'
        c.doOutput = true
        c.setRequestProperty('Content-Type', 'application/octet-stream')
        c.outputStream.withCloseable { it.write(bytes) }
        assertEquals(201, c.responseCode)
    }

    /** Pushes a random one-layer OCI image as repo:tag and returns its digest. */
    static String pushRandomImage(String repo, String tag) {
        byte[] layer = new byte[2048]
        new Random().nextBytes(layer)
        byte[] config = JsonOutput.toJson([architecture: 'amd64', os: 'linux', rootfs: [type: 'layers', diff_ids: [sha256(layer)]]]).bytes
        pushBlob(repo, layer)
        pushBlob(repo, config)
        byte[] manifest = JsonOutput.toJson([schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
            config: [mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length],
            layers: [[mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length]]]).bytes
        HttpURLConnection c = (HttpURLConnection) new URL("http://${host}/v2/${repo}/manifests/${tag}").openConnection()
        c.requestMethod = 'PUT'
        c.doOutput = true
        c.setRequestProperty('Content-Type', 'application/vnd.oci.image.manifest.v1+json')
        c.outputStream.withCloseable { it.write(manifest) }
        assertEquals(201, c.responseCode)
        return sha256(manifest)
    }

    @Before
    void pkiAndTrustPolicyInTheWorkspace() {
        useRealHelpers()
        credentials['image-key-password'] = PASSWORD
        withCredentialsDo([[$class: 'string', credentialsId: 'image-key-password', variable: 'COSIGN_PASSWORD']]) {
            List r = runReal("'${HELPER_BIN}/sign-artifacts' keys generate --type ca --out-dir pki --subject 'CN=release signer,O=example' " +
                '--result-file .release-gates/ca.json')
            assertEquals(r[2].toString(), 0, r[0])
        }
        file('truststore/x509/ca/rg').mkdirs()
        file('truststore/x509/ca/rg/ca.pem').text = file('pki/ca.crt').text
        file('trustpolicy.json').text = JsonOutput.toJson([version: '1.0', trustPolicies: [[name: 'rg', registryScopes: ['*'],
            signatureVerification: [level: 'strict', override: [revocation: 'skip']], trustStores: ['ca:rg'], trustedIdentities: ['*']]]])
    }

    Map config(List images) {
        return [images: images, key: 'pki/leaf.key', passwordCredentialsId: 'image-key-password', certChain: 'pki/chain.pem',
                plainHttp: true, trustPolicy: 'trustpolicy.json', trustStore: 'truststore']
    }

    @Test
    void itSignsAnImageByDigestWithCosignAndNotationAndVerifiesBothWithTheTrustPolicy() {
        String digest = pushRandomImage('svc/orders', 'v1')
        Map r = runStep('signArtifacts', config(["${host}/svc/orders:v1".toString()]))
        assertEquals('passed', r.status)
        assertEquals(["${host}/svc/orders@${digest}".toString()], r.items*.details*.digest)
        assertEquals(['imageSign', 'imageVerify'] as Set, r.results.keySet() as Set)
        assertEquals(0, r.results.imageVerify.exit_code)
        assertTrue(console.toString().contains("signArtifacts:   image ${host}/svc/orders:v1 passed ${host}/svc/orders@${digest}\n"))
        assertTrue(!(shCalls()*.script.join('\n').contains(PASSWORD)))
    }

    @Test
    void itRefusesAnImageWhoseTagMovedAwayFromTheExpectedDigest() {
        String first = pushRandomImage('svc/payments', 'v2')
        pushRandomImage('svc/payments', 'v2')
        try {
            runStep('signArtifacts', config(["${host}/svc/payments:v2".toString()]) + [expectDigest: first])
            fail('expected a moved tag to be refused')
        } catch (PipelineError e) {
            assertTrue(e.message, e.message.startsWith('signArtifacts: ') && e.message.contains(first))
        }
        assertEquals(['imageSign'], readCombined().returns.results.keySet() as List)
    }

    Map readCombined() {
        return new groovy.json.JsonSlurperClassic().parseText(file('.release-gates/signArtifacts.json').text) as Map
    }
}
