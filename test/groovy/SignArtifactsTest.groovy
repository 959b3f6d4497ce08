import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic
import org.junit.Before
import org.junit.Test

import java.util.regex.Matcher

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertNull
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/** signArtifacts with a recorded sh: exact command lines, credential bindings, secrets kept off every command line, errors. */
class SignArtifactsTest extends PipelineTestBase {
    static final String HELPER = '/opt/rg/bin/sign-artifacts'
    static final String KEY_PEM = '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nS3CRETKEYMATERIAL\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n'
    static final String PASSWORD = 'pa55-w0rd-never-logged'
    static final String PIN = '918273'
    static final Map FILE_KEY = [keyCredentialsId: 'cosign-key', passwordCredentialsId: 'cosign-password']
    static final String HSM_KEY = 'pkcs11:token=release;object=signer?module-path=/usr/lib/softhsm/libsofthsm2.so'

    /** Exit status per verb ('blob sign', ...); missing means 0. */
    Map<String, Integer> exitOf = [:]
    /** The environment each helper verb saw, by verb. */
    Map<String, Map> envSeen = [:]

    @Before
    void helperOnThePathAnsweringEveryVerb() {
        credentials['cosign-key'] = KEY_PEM
        credentials['cosign-password'] = PASSWORD
        credentials['hsm-pin'] = PIN
        credentials['registry'] = [username: 'ci-bot', password: 'registry-t0ken']
        mockSh(/^h='sign-artifacts'/) { Map a -> "found ${HELPER}\n" }
        mockSh(/sign-artifacts' '(blob|image|keys)' '(sign|verify|public|select)'/) { Map a -> answer(a.script.toString()) }
    }

    /** Writes the result a real helper would write for the script's verb and returns the configured status. */
    int answer(String script) {
        Matcher m = script =~ /sign-artifacts' '(\w+)' '(\w+)'/
        assertTrue(m.find())
        String verb = "${m.group(1)} ${m.group(2)}".toString()
        Map seen = [:]
        ['RG_SIGNING_KEY', 'COSIGN_PASSWORD', 'PKCS11_PIN', 'REGISTRY_USERNAME', 'REGISTRY_PASSWORD'].each { k ->
            if (env.containsKey(k)) {
                seen[k] = k == 'RG_SIGNING_KEY' ? new File(env[k].toString()).text : env[k]
            }
        }
        envSeen[verb] = seen
        int status = exitOf[verb] ?: 0
        List items = []
        if (verb == 'blob sign') {
            items = [[name: 'dist/orders', kind: 'blob', status: 'passed', details: [sha256: 'ab' * 32, signature: 'dist/orders.sig']],
                     [name: 'go.sum', kind: 'blob', status: status == 0 ? 'passed' : 'failed', details: [sha256: 'cd' * 32, signature: 'go.sum.sig']]]
        } else if (verb == 'image sign') {
            items = [[name: 'registry.example.com/orders:1.4.0', kind: 'image', status: 'passed', details: [digest: 'sha256:' + 'ef' * 32]]]
        } else if (verb.endsWith('verify')) {
            items = [[name: 'x', status: status == 0 ? 'passed' : 'failed']]
        }
        Map r = [helper: 'sign-artifacts', verb: verb, status: status == 0 ? 'passed' : 'failed', exit_code: status,
                 message: status == 0 ? '' : "${verb} went wrong".toString(), trace_id: env.RELEASE_TRACE_ID, items: items]
        Matcher pk = script =~ /'--public-key-out' '([^']+)'/
        if (verb == 'blob sign' && status == 0 && pk.find()) {
            r.data = [public_key: pk.group(1)]
        }
        if (verb == 'keys select') {
            r.data = [key_ref: HSM_KEY, cert_chain: 'trust/prod-2026.chain.pem']
        }
        Matcher rf = script =~ /'--result-file' '([^']+)'/
        assertTrue(rf.find())
        file(rf.group(1)).parentFile.mkdirs()
        file(rf.group(1)).text = JsonOutput.toJson(r)
        return status
    }

    String failureOf(Map config) {
        try {
            runStep('signArtifacts', config)
        } catch (PipelineError e) {
            return e.message
        }
        fail('expected signArtifacts to fail')
    }

    /** Returns the helper command line (second line of the run script) of the sh labelled label. */
    String commandOf(String label) {
        Map sh = shCalls().find { it.label == label }
        assertTrue("no sh labelled ${label}".toString(), sh != null)
        return sh.script.toString().readLines()[1]
    }

    void assertCommand(Object want, String label) {
        assertEquals(want.toString(), commandOf(label))
    }

    void assertNoSecretAnywhere() {
        String scripts = shCalls()*.script.join('\n')
        String results = workspace.listFiles().collect { it.isDirectory() ? it.listFiles()*.text.join('\n') : it.text }.join('\n')
        for (String s : [PASSWORD, PIN, 'S3CRETKEYMATERIAL', 'registry-t0ken']) {
            assertFalse("secret in an sh script", scripts.contains(s))
            assertFalse("secret in the console", console.toString().contains(s))
            assertFalse("secret in a result or params file", results.contains(s))
        }
    }

    @Test
    void itSignsFilesExportingThePublicKeyInTheSameCallThenVerifies() {
        runStep('signArtifacts', FILE_KEY + [files: ['dist/*', 'go.sum']])
        assertEquals(['signArtifacts: locate sign-artifacts', 'signArtifacts: blob sign',
                      'signArtifacts: locate sign-artifacts', 'signArtifacts: blob verify'], shCalls()*.label)
        assertCommand("'${HELPER}' 'blob' 'sign' '--key' \"\$RG_SIGNING_KEY\" '--public-key-out' '.release-gates/signArtifacts.pub' '--parallel' '4' " +
            "'--result-file' '.release-gates/signArtifacts-blob-sign.json' '--' 'dist/*' 'go.sum'", 'signArtifacts: blob sign')
        assertCommand("'${HELPER}' 'blob' 'verify' '--key' '.release-gates/signArtifacts.pub' '--parallel' '4' " +
            "'--result-file' '.release-gates/signArtifacts-blob-verify.json' '--' 'dist/orders' 'go.sum'", 'signArtifacts: blob verify')
        assertEquals("mkdir -p '.release-gates' && rm -f '.release-gates/signArtifacts-blob-sign.json'",
            shCalls().find { it.label == 'signArtifacts: blob sign' }.script.readLines()[0])
    }

    @Test
    void itSignsWithTheKeyringsCurrentKeySoTheHelperHealthChecksAndCountsIt() {
        runStep('signArtifacts', [keyring: 'keys.yaml', environment: 'prod', pinCredentialsId: 'hsm-pin', files: ['go.sum'],
                                  images: ['registry.example.com/orders:1.4.0'], trustPolicy: 'tp.json', trustStore: 'ts'])
        assertCommand("'${HELPER}' 'keys' 'select' '--keyring' 'keys.yaml' '--environment' 'prod' " +
            "'--result-file' '.release-gates/signArtifacts-keys-select.json'", 'signArtifacts: keys select')
        assertCommand("'${HELPER}' 'blob' 'sign' '--keyring' 'keys.yaml' '--environment' 'prod' '--public-key-out' '.release-gates/signArtifacts.pub' " +
            "'--parallel' '4' '--result-file' '.release-gates/signArtifacts-blob-sign.json' '--' 'go.sum'", 'signArtifacts: blob sign')
        assertFalse('the key was exported by blob sign', shCalls()*.label.contains('signArtifacts: keys public'))
        String image = commandOf('signArtifacts: image sign')
        assertTrue(image, image.startsWith("'${HELPER}' 'image' 'sign' '--keyring' 'keys.yaml' '--environment' 'prod' '--format' 'cosign,notation' "))
        assertFalse('the keyring names the chain: no --cert-chain', image.contains('--cert-chain'))
        assertEquals('PKCS#11 PIN bound for the health check', PIN, envSeen['keys select'].PKCS11_PIN)
        assertNoSecretAnywhere()
        assertEquals('signArtifacts: set keyring and environment together (keys.yaml and the environment whose current key signs)',
            failureOf([keyring: 'keys.yaml', files: ['go.sum']]))
        assertTrue(failureOf([keyring: 'keys.yaml', environment: 'prod', key: 'k.key', files: ['go.sum']]).contains('set one of key'))
    }

    @Test
    void itBindsTheKeyFileAndPasswordOnlyAsEnvironmentVariables() {
        runStep('signArtifacts', FILE_KEY + [files: ['go.sum']])
        List bindings = [[$class: 'file', credentialsId: 'cosign-key', variable: 'RG_SIGNING_KEY'],
                         [$class: 'string', credentialsId: 'cosign-password', variable: 'COSIGN_PASSWORD']]
        assertEquals([[bindings], [bindings]], callsTo('withCredentials'))
        Map want = [RG_SIGNING_KEY: KEY_PEM, COSIGN_PASSWORD: PASSWORD]
        assertEquals(['blob sign': want, 'blob verify': want], envSeen)
        assertFalse(env.containsKey('COSIGN_PASSWORD'))
        assertNoSecretAnywhere()
    }

    @Test
    void itSignsImagesWithAnHsmKeyThePinAndRegistryCredentials() {
        runStep('signArtifacts', [key: HSM_KEY, pinCredentialsId: 'hsm-pin', registryCredentialsId: 'registry', certChain: 'pki/chain.pem',
                                  images: ['registry.example.com/orders:1.4.0'], notationFormat: 'cose', referrers: true,
                                  expectDigest: 'sha256:' + 'ef' * 32, plainHttp: true, parallel: 2])
        assertEquals(['signArtifacts: locate sign-artifacts', 'signArtifacts: image sign'], shCalls()*.label)
        assertCommand("'${HELPER}' 'image' 'sign' '--key' '${HSM_KEY}' '--format' 'cosign,notation' '--cert-chain' 'pki/chain.pem' " +
            "'--notation-format' 'cose' '--referrers' '--expect-digest' 'sha256:${'ef' * 32}' '--plain-http' '--parallel' '2' " +
            "'--result-file' '.release-gates/signArtifacts-image-sign.json' '--' 'registry.example.com/orders:1.4.0'", 'signArtifacts: image sign')
        assertEquals([[[[$class: 'string', credentialsId: 'hsm-pin', variable: 'PKCS11_PIN'],
                        [$class: 'usernamePassword', credentialsId: 'registry', usernameVariable: 'REGISTRY_USERNAME', passwordVariable: 'REGISTRY_PASSWORD']]]],
            callsTo('withCredentials'))
        assertEquals(['image sign': [PKCS11_PIN: PIN, REGISTRY_USERNAME: 'ci-bot', REGISTRY_PASSWORD: 'registry-t0ken']], envSeen)
        assertNoSecretAnywhere()
    }

    @Test
    void itVerifiesImagesWithTheTrustPolicyAndTheExportedKeyWhenATrustPolicyIsGiven() {
        runStep('signArtifacts', FILE_KEY + [images: ['registry.example.com/orders:1.4.0'], certChain: 'chain.pem',
                                             trustPolicy: 'tp.json', trustStore: 'ts'])
        assertEquals(['signArtifacts: locate sign-artifacts', 'signArtifacts: image sign', 'signArtifacts: locate sign-artifacts',
                      'signArtifacts: keys public', 'signArtifacts: locate sign-artifacts', 'signArtifacts: image verify'], shCalls()*.label)
        assertCommand("'${HELPER}' 'image' 'verify' '--key' '.release-gates/signArtifacts.pub' '--trust-policy' 'tp.json' '--trust-store' 'ts' " +
            "'--format' 'cosign,notation' '--parallel' '4' " +
            "'--result-file' '.release-gates/signArtifacts-image-verify.json' '--' 'registry.example.com/orders:1.4.0'", 'signArtifacts: image verify')
    }

    @Test
    void itVerifiesWithTheGivenKeysInsteadOfExportingTheSigningKeysPublicKey() {
        runStep('signArtifacts', FILE_KEY + [files: ['go.sum'], verifyKeys: ['keys/a.pub', 'keys/b.pub'], outDir: 'sigs'])
        assertFalse(shCalls()*.label.contains('signArtifacts: keys public'))
        assertCommand("'${HELPER}' 'blob' 'verify' '--key' 'keys/a.pub' '--key' 'keys/b.pub' '--signature-dir' 'sigs' '--parallel' '4' " +
            "'--result-file' '.release-gates/signArtifacts-blob-verify.json' '--' 'dist/orders' 'go.sum'", 'signArtifacts: blob verify')
    }

    @Test
    void itPassesEveryBlobOptionAsItsFlag() {
        runStep('signArtifacts', [key: 'file://keys/cosign.key', files: ['dist/*'], checksums: 'dist/SHA256SUMS', bundle: true,
                                  expectPlatform: 'linux/arm64', allowDirty: true, outDir: 'dist/sigs', parallel: 8])
        assertCommand("'${HELPER}' 'blob' 'sign' '--key' 'file://keys/cosign.key' '--public-key-out' '.release-gates/signArtifacts.pub' '--checksums' 'dist/SHA256SUMS' '--bundle' " +
            "'--expect-platform' 'linux/arm64' '--allow-dirty' '--out-dir' 'dist/sigs' '--parallel' '8' " +
            "'--result-file' '.release-gates/signArtifacts-blob-sign.json' '--' 'dist/*'", 'signArtifacts: blob sign')
        assertEquals([], callsTo('withCredentials'))
    }

    @Test
    void itRefusesAPinValueInTheKeyUriBeforeRunningAnythingAndNeverEchoesIt() {
        ['pkcs11:token=release;object=signer;pin-value=4711', 'pkcs11:token=release;object=signer?PIN-VALUE=4711&module-path=/x.so'].each { k ->
            String msg = failureOf([key: k, files: ['go.sum']])
            assertEquals('signArtifacts: a pin-value in the key URI is refused (it would be on the command line and in the log): ' +
                'store the PIN as a secret text credential and pass pinCredentialsId (bound as PKCS11_PIN)', msg)
        }
        assertTrue(failureOf([key: HSM_KEY, files: ['go.sum'], verifyKeys: ['pkcs11:token=t;object=o?pin-value=4711']]).contains('verifyKeys'))
        assertEquals([], shCalls())
        assertFalse(console.toString().contains('4711'))
    }

    @Test
    void itRejectsAMistypedParameterNamingTheNearestOne() {
        String msg = failureOf([keyCredentialId: 'cosign-key', files: ['go.sum']])
        assertTrue(msg, msg.startsWith("signArtifacts: unknown parameter 'keyCredentialId' (did you mean 'keyCredentialsId'?); known parameters: "))
        assertEquals([], shCalls())
    }

    @Test
    void itRejectsInconsistentParametersWithOneActionableLine() {
        Map cases = [
            'nothing to sign'                   : [key: 'k'],
            'not both'                          : [key: 'k', keyCredentialsId: 'c', files: ['f']],
            "parameter 'key', 'keyCredentialsId' or 'keyring' is required": [files: ['f']],
            'formats must be a non-empty subset': [key: 'k', files: ['f'], formats: ['gpg']],
            'notationFormat must be jws or cose': [key: 'k', files: ['f'], notationFormat: 'xml'],
            "parameter 'certChain' is required" : [key: 'k', images: ['r/i:1']],
            'expectDigest needs exactly one'    : [key: 'k', images: ['r/a:1', 'r/b:1'], formats: ['cosign'], expectDigest: 'sha256:' + '0' * 64],
            'expectDigest must be sha256'       : [key: 'k', images: ['r/a:1'], formats: ['cosign'], expectDigest: 'latest'],
            'apply to files, and files is empty': [key: 'k', images: ['r/a:1'], formats: ['cosign'], checksums: 'SHA256SUMS'],
            'apply to images, and images is empty': [key: 'k', files: ['f'], trustPolicy: 'tp.json', trustStore: 'ts'],
            'set trustPolicy and trustStore together': [key: 'k', images: ['r/a:1'], formats: ['cosign'], trustPolicy: 'tp.json'],
            'parallel must be a whole number'   : [key: 'k', files: ['f'], parallel: 0],
            'expectPlatform must be os/arch'    : [key: 'k', files: ['f'], expectPlatform: 'arm64'],
            "parameter 'files' must be a List"  : [key: 'k', files: 'dist/*'],
        ]
        cases.each { want, config ->
            String msg = failureOf(config)
            assertTrue("${config}: ${msg}".toString(), msg.startsWith('signArtifacts: ') && msg.contains(want) && !msg.contains('\n'))
        }
        assertEquals([], shCalls())
    }

    @Test
    void itMapsEveryExitCodeToAClearErrorAfterArchivingAndStopsAtTheFailingCall() {
        Map cases = [
            1: 'signArtifacts: rejected: blob sign went wrong',
            2: 'signArtifacts: bad input or configuration: blob sign went wrong',
            3: 'signArtifacts: infrastructure unavailable: blob sign went wrong (retry later)',
            7: 'signArtifacts: helper sign-artifacts failed with exit code 7: blob sign went wrong',
        ]
        cases.each { code, want ->
            calls.clear()
            exitOf['blob sign'] = code
            assertEquals(want, failureOf(FILE_KEY + [files: ['go.sum'], images: ['r/a:1'], formats: ['cosign']]))
            assertEquals(['signArtifacts: locate sign-artifacts', 'signArtifacts: blob sign'], shCalls()*.label)
            List names = calls*.name
            assertTrue(names.indexOf('archiveArtifacts') >= 0 && names.indexOf('archiveArtifacts') < names.indexOf('error'))
            Map combined = new JsonSlurperClassic().parseText(file('.release-gates/signArtifacts.json').text)
            assertEquals(code, combined.exit_code)
        }
    }

    @Test
    void itFailsWhenTheVerificationRightAfterSigningRejectsASignature() {
        exitOf['blob verify'] = 1
        assertEquals('signArtifacts: rejected: blob verify went wrong', failureOf(FILE_KEY + [files: ['go.sum']]))
        assertTrue(console.toString().contains('signArtifacts: failed (trace '))
    }

    @Test
    void itFailsWhenTheHelperWritesNoResult() {
        mockSh(/sign-artifacts' 'blob' 'sign'/) { Map a -> 2 }
        assertEquals('signArtifacts: helper sign-artifacts failed with exit code 2 and wrote no result file', failureOf(FILE_KEY + [files: ['go.sum']]))
    }

    @Test
    void itReturnsAndWritesTheCombinedResultAsAPlainSerializableMapAndArchivesTheSignatures() {
        Map r = runStep('signArtifacts', FILE_KEY + [files: ['dist/*', 'go.sum'], images: ['registry.example.com/orders:1.4.0'], formats: ['cosign']])
        assertEquals('passed', r.status)
        assertEquals(env.RELEASE_TRACE_ID, r.trace_id)
        assertEquals(['dist/orders', 'go.sum', 'registry.example.com/orders:1.4.0'], r.items*.name)
        assertEquals(['dist/orders.sig', 'go.sum.sig'], r.signatures)
        assertEquals('.release-gates/signArtifacts.pub', r.publicKey)
        assertEquals(['blobSign', 'blobVerify', 'imageSign'], r.results.keySet() as List)
        new ObjectOutputStream(new ByteArrayOutputStream()).writeObject(r)
        Map written = new JsonSlurperClassic().parseText(file('.release-gates/signArtifacts.json').text)
        assertEquals([helper: 'sign-artifacts', verb: 'signArtifacts', status: 'passed'], written.subMap(['helper', 'verb', 'status']))
        assertEquals([[[artifacts: '.release-gates/signArtifacts.json,.release-gates/signArtifacts-blob-sign.json,' +
            '.release-gates/signArtifacts-blob-verify.json,' +
            '.release-gates/signArtifacts-image-sign.json,.release-gates/signArtifacts.pub,dist/orders.sig,go.sum.sig', allowEmptyArchive: true]]],
            callsTo('archiveArtifacts'))
        assertTrue(console.toString().contains("signArtifacts:   image registry.example.com/orders:1.4.0 passed sha256:${'ef' * 32}\n"))
        assertTrue(console.toString().contains('signArtifacts: blob verify: 1 verified\n'))
        assertNull(env.COSIGN_PASSWORD)
    }
}
