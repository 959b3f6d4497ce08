import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic
import org.junit.Before
import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertNull
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/**
 * signArtifacts with a recorded sh: one helper call on the runner contract, the params document, credential bindings,
 * secrets kept off every command line and file, errors (the cross-parameter rules: helpers/internal/signing tests).
 */
class SignArtifactsTest extends PipelineTestBase {
    static final String HELPER = '/opt/rg/bin/sign-artifacts'
    static final String KEY_PEM = '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nS3CRETKEYMATERIAL\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n'
    static final String PASSWORD = 'pa55-w0rd-never-logged'
    static final String PIN = 'hsm-pin-9182-qx'
    static final Map FILE_KEY = [keyCredentialsId: 'cosign-key', passwordCredentialsId: 'cosign-password']
    static final String HSM_KEY = 'pkcs11:token=release;object=signer?module-path=/usr/lib/softhsm/libsofthsm2.so'
    static final String RUN = "mkdir -p '.release-gates' && rm -f '.release-gates/signArtifacts.json'\n" +
        "'${HELPER}' 'run' '--params' '.release-gates/signArtifacts.params.json' '--result-file' '.release-gates/signArtifacts.json'\n"

    /** Exit status of the helper run. */
    int exitCode = 0
    /** The secrets the helper saw, by env var name (the key file by its content). */
    Map envSeen = null

    @Before
    void helperOnThePath() {
        credentials['cosign-key'] = KEY_PEM
        credentials['cosign-password'] = PASSWORD
        credentials['hsm-pin'] = PIN
        credentials['registry'] = [username: 'ci-bot', password: 'registry-t0ken']
        mockSh(/^h='sign-artifacts'/) { Map a -> "found ${HELPER}\n" }
        mockSh(/sign-artifacts' 'run'/) { Map a -> answer() }
    }

    /** Writes the result sign-artifacts run writes and returns exitCode; it reads the secrets by the names the document gives. */
    int answer() {
        Map doc = paramsDoc()
        envSeen = [:]
        doc.secrets.each { role, name ->
            if (env.containsKey(name)) {
                envSeen[name] = role == 'key' ? new File(env[name].toString()).text : env[name]
            }
        }
        String st = exitCode == 0 ? 'passed' : 'rejected'
        List items = [[name: 'dist/orders', kind: 'blob', status: 'passed', details: [sha256: 'ab' * 32, signature: 'dist/orders.sig']],
                      [name: 'registry.example.com/orders:1.4.0', kind: 'image', status: st, details: [digest: 'sha256:' + 'ef' * 32]]]
        Map returns = [helper: 'sign-artifacts', verb: 'signArtifacts', status: st, exit_code: exitCode, trace_id: env.RELEASE_TRACE_ID,
                       message: exitCode == 0 ? '' : 'image sign: went wrong', items: items, signatures: ['dist/orders.sig'],
                       publicKey: '.release-gates/signArtifacts.pub', resultFiles: ['.release-gates/signArtifacts-blob-sign.json'],
                       results: [blobSign: [verb: 'blob sign', items: [items[0]]], imageSign: [verb: 'image sign', items: [items[1]]]]]
        Map r = [helper: 'sign-artifacts', verb: 'run', status: st, exit_code: exitCode, message: returns.message, trace_id: env.RELEASE_TRACE_ID,
                 items: items, archive: ['.release-gates/signArtifacts-blob-sign.json', '.release-gates/signArtifacts.pub', 'dist/orders.sig', '/abs/outside.sig'],
                 summary: ["signArtifacts: ${st} (trace ${env.RELEASE_TRACE_ID})".toString(), 'signArtifacts:   blob dist/orders passed'],
                 returns: returns]
        file('.release-gates/signArtifacts.json').text = JsonOutput.toJson(r)
        return exitCode
    }

    Map paramsDoc() {
        return new JsonSlurperClassic().parseText(file('.release-gates/signArtifacts.params.json').text)
    }

    String failureOf(Map config) {
        try {
            runStep('signArtifacts', config)
        } catch (PipelineError e) {
            return e.message
        }
        fail('expected signArtifacts to fail')
    }

    void assertNoSecretAnywhere() {
        String scripts = shCalls()*.script.join('\n')
        List files = []
        workspace.eachFileRecurse { if (it.isFile()) files.add(it.text) }
        String written = files.join('\n')
        for (String s : [PASSWORD, PIN, 'S3CRETKEYMATERIAL', 'registry-t0ken']) {
            assertFalse('secret in an sh script', scripts.contains(s))
            assertFalse('secret in the console', console.toString().contains(s))
            assertFalse('secret in a result or params file', written.contains(s))
        }
    }

    @Test
    void itRunsTheWholeFlowInOneLabelledHelperCall() {
        runStep('signArtifacts', FILE_KEY + [files: ['dist/*', 'go.sum'], images: ['registry.example.com/orders:1.4.0'], certChain: 'pki/chain.pem'])
        assertEquals(['signArtifacts: locate sign-artifacts', 'signArtifacts: run'], shCalls()*.label)
        assertEquals(RUN, shCalls()[1].script)
        assertEquals(true, shCalls()[1].returnStatus)
    }

    @Test
    void itHandsTheMapOverVerbatimAndNamesOnlyTheSecretsEnvVars() {
        Map config = FILE_KEY + [files: ['dist/*', 'go.sum'], checksums: "dist/${'SHA256SUMS'}", parallel: 8, allowDirty: true, outDir: null]
        runStep('signArtifacts', config)
        Map doc = paramsDoc()
        assertEquals('signArtifacts', doc.step)
        assertEquals([keyCredentialsId: 'cosign-key', passwordCredentialsId: 'cosign-password', files: ['dist/*', 'go.sum'],
                      checksums: 'dist/SHA256SUMS', parallel: 8, allowDirty: true, outDir: null], doc.params)
        assertEquals([key: 'RG_SIGNING_KEY', password: 'COSIGN_PASSWORD'], doc.secrets)
        assertEquals(env.RELEASE_TRACE_ID, doc.context.traceId)
    }

    @Test
    void itBindsTheKeyFileAndPasswordOnlyAsEnvironmentVariables() {
        runStep('signArtifacts', FILE_KEY + [files: ['go.sum']])
        assertEquals([[[[$class: 'file', credentialsId: 'cosign-key', variable: 'RG_SIGNING_KEY'],
                        [$class: 'string', credentialsId: 'cosign-password', variable: 'COSIGN_PASSWORD']]]], callsTo('withCredentials'))
        assertEquals([RG_SIGNING_KEY: KEY_PEM, COSIGN_PASSWORD: PASSWORD], envSeen)
        assertFalse(env.containsKey('COSIGN_PASSWORD'))
        assertNoSecretAnywhere()
    }

    @Test
    void itBindsThePinAndTheRegistryLoginForAnHsmKey() {
        runStep('signArtifacts', [key: HSM_KEY, pinCredentialsId: 'hsm-pin', registryCredentialsId: 'registry', certChain: 'pki/chain.pem',
                                  images: ['registry.example.com/orders:1.4.0']])
        assertEquals([[[[$class: 'string', credentialsId: 'hsm-pin', variable: 'PKCS11_PIN'],
                        [$class: 'usernamePassword', credentialsId: 'registry', usernameVariable: 'REGISTRY_USERNAME', passwordVariable: 'REGISTRY_PASSWORD']]]],
            callsTo('withCredentials'))
        assertEquals([pin: 'PKCS11_PIN', registryUsername: 'REGISTRY_USERNAME', registryPassword: 'REGISTRY_PASSWORD'], paramsDoc().secrets)
        assertEquals([PKCS11_PIN: PIN, REGISTRY_USERNAME: 'ci-bot', REGISTRY_PASSWORD: 'registry-t0ken'], envSeen)
        assertNoSecretAnywhere()
    }

    @Test
    void itRunsWithoutCredentialsWhenTheMapNamesNone() {
        runStep('signArtifacts', [key: 'file://keys/cosign.key', files: ['dist/*']])
        assertEquals([], callsTo('withCredentials'))
        assertEquals([:], paramsDoc().secrets)
    }

    @Test
    void itFailsClearlyOnAnUnknownCredentialId() {
        assertEquals("Could not find credentials entry with ID 'nope'", failureOf([keyring: 'keys.yaml', environment: 'prod', pinCredentialsId: 'nope', files: ['go.sum']]))
    }

    @Test
    void itRejectsAMistypedParameterNamingTheNearestOne() {
        String msg = failureOf([keyCredentialId: 'cosign-key', files: ['go.sum']])
        assertTrue(msg, msg.startsWith("signArtifacts: unknown parameter 'keyCredentialId' (did you mean 'keyCredentialsId'?); known parameters: "))
        assertTrue(msg, msg.endsWith(' (see vars/signArtifacts.txt)'))
        assertEquals([], shCalls())
    }

    @Test
    void itRejectsAWrongTypeBeforeRunningAnything() {
        Map cases = [
            "parameter 'files' must be a List of Strings, got String 'dist/*'"      : [key: 'k', files: 'dist/*'],
            "parameter 'parallel' must be an Integer, got String '4'"     : [key: 'k', files: ['f'], parallel: '4'],
            "parameter 'allowDirty' must be a Boolean, got String 'yes'" : [key: 'k', files: ['f'], allowDirty: 'yes'],
            "parameter 'key' must be a String, got List [a]"             : [key: ['a'], files: ['f']],
            "parameter 'parallel' must be an Integer, got Number 1.5"     : [key: 'k', files: ['f'], parallel: 1.5],
        ]
        cases.each { want, config -> assertEquals("signArtifacts: ${want} (see vars/signArtifacts.txt)".toString(), failureOf(config)) }
        assertEquals([], shCalls())
    }

    @Test
    void itMapsEveryExitCodeToAClearErrorAfterArchivingAndEchoingTheSummary() {
        env.RELEASE_TRACE_ID = 'rg-t'
        Map cases = [
            1: 'signArtifacts: rejected: image sign: went wrong',
            2: 'signArtifacts: bad input or configuration: image sign: went wrong',
            3: 'signArtifacts: infrastructure unavailable: image sign: went wrong (retry later)',
            4: 'signArtifacts: helper bug, please report (helper sign-artifacts, trace rg-t): image sign: went wrong',
            7: 'signArtifacts: helper sign-artifacts failed with exit code 7: image sign: went wrong',
        ]
        cases.each { code, want ->
            calls.clear()
            exitCode = code
            assertEquals(want, failureOf(FILE_KEY + [files: ['go.sum']]))
            List names = calls*.name
            assertTrue(names.indexOf('archiveArtifacts') >= 0 && names.indexOf('archiveArtifacts') < names.indexOf('error'))
            assertTrue(names.indexOf('echo') >= 0 && names.indexOf('echo') < names.indexOf('error'))
        }
    }

    @Test
    void itFailsWhenTheHelperWritesNoResult() {
        mockSh(/sign-artifacts' 'run'/) { Map a -> 2 }
        assertEquals('signArtifacts: helper sign-artifacts failed with exit code 2 and wrote no result file', failureOf(FILE_KEY + [files: ['go.sum']]))
    }

    @Test
    void itReturnsTheCombinedResultAsAPlainSerializableMapAndArchivesWhatTheHelperLists() {
        Map r = runStep('signArtifacts', FILE_KEY + [files: ['dist/*'], images: ['registry.example.com/orders:1.4.0'], formats: ['cosign']])
        assertEquals('passed', r.status)
        assertEquals(env.RELEASE_TRACE_ID, r.trace_id)
        assertEquals(['dist/orders', 'registry.example.com/orders:1.4.0'], r.items*.name)
        assertEquals('sha256:' + 'ef' * 32, r.results.imageSign.items[0].details.digest)
        assertEquals('.release-gates/signArtifacts.pub', r.publicKey)
        new ObjectOutputStream(new ByteArrayOutputStream()).writeObject(r)
        assertEquals([[[artifacts: '.release-gates/signArtifacts.json,.release-gates/signArtifacts.params.json,' +
            '.release-gates/signArtifacts-blob-sign.json,.release-gates/signArtifacts.pub,dist/orders.sig', allowEmptyArchive: true]]],
            callsTo('archiveArtifacts'))
        assertEquals(["signArtifacts: passed (trace ${env.RELEASE_TRACE_ID})".toString(), 'signArtifacts:   blob dist/orders passed'],
            callsTo('echo').collect { it[0] })
        assertNull(env.COSIGN_PASSWORD)
    }
}
