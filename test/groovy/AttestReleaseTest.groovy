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
 * attestRelease with a recorded sh: one helper call on the runner contract, both keys' credentials under distinct
 * names, secrets kept off every command line and file, errors (approval and parameter rules: helpers/internal/attest tests).
 */
class AttestReleaseTest extends PipelineTestBase {
    static final String HELPER = '/opt/rg/bin/release-evidence'
    static final String TRACE = 'rg-' + 'a1' * 16
    static final String DIGEST = 'registry.example.com/orders@sha256:' + 'ab' * 32
    static final String COMMIT = '3f1c9a0b7d2e4f6512ab34cd56ef7890a1b2c3d4'
    static final String RELEASE_KEY = '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nRELEASEKEYMATERIAL\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n'
    static final String AUDIT_KEY = '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAUDITKEYMATERIAL\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n'
    static final String RELEASE_PASSWORD = 'release-pa55-never-logged'
    static final String AUDIT_PASSWORD = 'audit-pa55-never-logged'
    static final String PIN = 'hsm-pin-2718-qx'
    static final Map KEYS = [releaseKeyCredentialsId: 'release-key', releasePasswordCredentialsId: 'release-password']
    static final String RUN = "mkdir -p '.release-gates' && rm -f '.release-gates/attestRelease.json'\n" +
        "'${HELPER}' 'run' '--params' '.release-gates/attestRelease.params.json' '--result-file' '.release-gates/attestRelease.json'\n"

    int status = 0
    Map envSeen = [:]

    @Before
    void helperOnThePath() {
        env.RELEASE_TRACE_ID = TRACE
        env.GIT_URL = 'https://git.example.com/shop/orders.git'
        env.GIT_COMMIT = COMMIT
        env.BRANCH_NAME = 'main'
        credentials['release-key'] = RELEASE_KEY
        credentials['release-password'] = RELEASE_PASSWORD
        credentials['audit-key'] = AUDIT_KEY
        credentials['audit-password'] = AUDIT_PASSWORD
        credentials['hsm-pin'] = PIN
        mockSh(/^h='release-evidence'/) { Map a -> "found ${HELPER}\n" }
        mockSh(/release-evidence' 'run'/) { Map a -> answer() }
    }

    Map paramsDoc() {
        return new JsonSlurperClassic().parseText(file('.release-gates/attestRelease.params.json').text)
    }

    /** Plays release-evidence run: records the secrets by the names the document gives, writes the result, returns status. */
    int answer() {
        Map doc = paramsDoc()
        doc.secrets.each { role, name ->
            if (env.containsKey(name)) {
                envSeen[name] = role.endsWith('Key') ? new File(env[name].toString()).text : env[name]
            }
        }
        String st = status == 0 ? 'passed' : 'rejected'
        List items = [[name: DIGEST, kind: 'provenance', status: 'passed', details: [digest: 'sha256:' + 'ab' * 32]]]
        Map returns = [helper: 'release-evidence', verb: 'attestRelease', status: st, exit_code: status, trace_id: TRACE,
                       message: status == 0 ? '' : 'attest provenance: went wrong', items: items, attestations: [], approvers: ['U02BOB'],
                       ledger: null, ledgerHead: null, resultFiles: ['.release-gates/attestRelease-provenance.json'],
                       results: [provenance: [verb: 'attest provenance', items: items]]]
        Map r = [helper: 'release-evidence', verb: 'run', status: st, exit_code: status, message: status == 0 ? '' : 'went wrong', trace_id: TRACE,
                 items: items, archive: ['.release-gates/attestRelease-provenance.json'],
                 summary: ["attestRelease: ${st} (trace ${TRACE})".toString()], returns: returns]
        file('.release-gates/attestRelease.json').text = JsonOutput.toJson(r)
        return status
    }

    String failureOf(Map config) {
        try {
            runStep('attestRelease', config)
        } catch (PipelineError e) {
            return e.message
        }
        fail('expected attestRelease to fail')
    }

    @Test
    void itRunsOneHelperCallWithTheMapAndTheBuildContext() {
        Map config = KEYS + [image: DIGEST, environment: 'prod', module: 'example.com/orders', approval: null]
        Map r = runStep('attestRelease', config)
        assertEquals(['attestRelease: locate release-evidence', 'attestRelease: run'], shCalls()*.label)
        assertEquals(RUN, shCalls()[1].script)
        Map doc = paramsDoc()
        assertEquals(config, doc.params)
        assertTrue('approval: null reaches the helper, which then attests no approval', doc.params.containsKey('approval'))
        assertEquals([gitUrl: 'https://git.example.com/shop/orders.git', gitCommit: COMMIT, branch: 'main', buildUrl: env.BUILD_URL],
            doc.context.subMap(['gitUrl', 'gitCommit', 'branch', 'buildUrl']))
        assertEquals('passed', r.status)
        assertEquals(['U02BOB'], r.approvers)
        assertNull(r.ledgerHead)
        new ObjectOutputStream(new ByteArrayOutputStream()).writeObject(r)
    }

    @Test
    void itBindsBothKeysUnderTheirOwnNamesAndNeverLeaksASecret() {
        runStep('attestRelease', KEYS + [image: DIGEST, environment: 'prod', releasePinCredentialsId: 'hsm-pin',
                                         auditKeyCredentialsId: 'audit-key', auditPasswordCredentialsId: 'audit-password'])
        assertEquals([[[[$class: 'file', credentialsId: 'release-key', variable: 'RG_RELEASE_KEY'],
                        [$class: 'string', credentialsId: 'release-password', variable: 'COSIGN_PASSWORD'],
                        [$class: 'string', credentialsId: 'hsm-pin', variable: 'PKCS11_PIN'],
                        [$class: 'file', credentialsId: 'audit-key', variable: 'RG_AUDIT_KEY'],
                        [$class: 'string', credentialsId: 'audit-password', variable: 'RG_AUDIT_PASSWORD']]]], callsTo('withCredentials'))
        assertEquals([releaseKey: 'RG_RELEASE_KEY', releasePassword: 'COSIGN_PASSWORD', releasePin: 'PKCS11_PIN', auditKey: 'RG_AUDIT_KEY',
                      auditPassword: 'RG_AUDIT_PASSWORD'], paramsDoc().secrets)
        assertEquals([RG_RELEASE_KEY: RELEASE_KEY, COSIGN_PASSWORD: RELEASE_PASSWORD, PKCS11_PIN: PIN, RG_AUDIT_KEY: AUDIT_KEY,
                      RG_AUDIT_PASSWORD: AUDIT_PASSWORD], envSeen)
        List written = []
        workspace.eachFileRecurse { if (it.isFile()) written.add(it.text) }
        String everything = shCalls()*.script.join('\n') + console + written.join('\n')
        for (String s : [RELEASE_PASSWORD, AUDIT_PASSWORD, PIN, 'RELEASEKEYMATERIAL', 'AUDITKEYMATERIAL']) {
            assertFalse("secret ${s} leaked".toString(), everything.contains(s))
        }
    }

    @Test
    void itRejectsUnknownKeysAndWrongTypesBeforeRunningAnything() {
        Map cases = [
            (KEYS + [image: DIGEST, environment: 'prod', imgae: DIGEST])   : "attestRelease: unknown parameter 'imgae' (did you mean 'image'?)",
            (KEYS + [image: DIGEST, environment: 'prod', plainHttp: 'yes']): "attestRelease: parameter 'plainHttp' must be a Boolean, got String 'yes'",
            (KEYS + [blobs: 'bin/orders'])                                 : "attestRelease: parameter 'blobs' must be a List of Strings, got String 'bin/orders'",
            (KEYS + [image: [DIGEST]])                                     : "attestRelease: parameter 'image' must be a String, got List",
        ]
        cases.each { Map config, String want ->
            String got = failureOf(config)
            assertTrue("${config}: got ${got}", got.startsWith(want))
        }
        assertEquals([], shCalls())
    }

    @Test
    void itMapsTheHelpersExitCodesAfterArchivingWhatItListed() {
        Map want = [1: 'attestRelease: rejected: went wrong', 2: 'attestRelease: bad input or configuration: went wrong',
                    3: 'attestRelease: infrastructure unavailable: went wrong (retry later)',
                    4: "attestRelease: helper bug, please report (helper release-evidence, trace ${TRACE}): went wrong".toString()]
        want.each { Integer code, String msg ->
            calls.clear()
            status = code
            assertEquals(msg, failureOf(KEYS + [image: DIGEST, environment: 'prod']))
            assertEquals([[artifacts: '.release-gates/attestRelease.json,.release-gates/attestRelease.params.json,.release-gates/attestRelease-provenance.json',
                           allowEmptyArchive: true]], callsTo('archiveArtifacts').collect { it[0] })
        }
    }
}
