import groovy.json.JsonOutput
import org.junit.Before
import org.junit.Test

import java.util.regex.Matcher

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/** verifyRelease with a recorded sh: exact command lines, digest handed back and to the deploy closure, errors, secrets. */
class VerifyReleaseTest extends PipelineTestBase {
    static final String HELPER = '/opt/rg/bin/release-evidence'
    static final String DIGEST = 'registry.example.com/orders@sha256:' + 'ab' * 32
    static final String OLD = 'registry.example.com/orders@sha256:' + 'cd' * 32
    static final String KEY_PEM = '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAUDITKEYMATERIAL\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n'
    static final String PASSWORD = 'audit-pa55-never-logged'
    static final Map TRUST = [expectRepo: 'https://git.example.com/orders.git', expectBranch: 'main', cosignKeys: ['keys/cosign.pub'],
                              releaseKeys: ['keys/release.pub'], trustPolicy: 'keys/trustpolicy.json', trustStore: 'keys/truststore']

    int status = 0
    String message = 'release verified'
    String reportedDigest = DIGEST
    Map envSeen = [:]

    @Before
    void helperOnThePath() {
        env.JOB_URL = 'https://jenkins.example.com/job/orders/'
        credentials['audit-key'] = KEY_PEM
        credentials['audit-password'] = PASSWORD
        mockSh(/^h='release-evidence'/) { Map a -> "found ${HELPER}\n" }
        mockSh(/release-evidence' '(verify|rollback)'/) { Map a -> answer(a.script.toString()) }
    }

    int answer(String script) {
        Matcher m = script =~ /release-evidence' '(\w+)'/
        assertTrue(m.find())
        ['RG_AUDIT_KEY', 'COSIGN_PASSWORD'].each { k -> if (env.containsKey(k)) { envSeen[k] = k == 'RG_AUDIT_KEY' ? new File(env[k].toString()).text : env[k] } }
        Map data = status == 0 ? [digest: reportedDigest, environment: 'prod'] : [checked_digest: DIGEST]
        Map r = [helper: 'release-evidence', verb: m.group(1), status: status == 0 ? 'passed' : 'rejected', exit_code: status, message: message,
                 trace_id: env.RELEASE_TRACE_ID, data: data,
                 items: [[name: 'image signatures', status: status == 0 ? 'passed' : 'rejected', message: status == 0 ? null : message],
                         [name: 'provenance', status: 'passed']]]
        File rf = file('.release-gates/verifyRelease.json')
        rf.parentFile.mkdirs()
        rf.text = JsonOutput.toJson(r)
        return status
    }

    String failureOf(Map config) {
        try {
            runStep('verifyRelease', config)
        } catch (PipelineError e) {
            return e.message
        }
        fail('expected verifyRelease to fail')
    }

    Map verifyCall() {
        return shCalls().find { it.label?.startsWith('verifyRelease: ') && !it.label.contains('locate') }
    }

    @Test
    void itRunsVerifyWithTheExactCommandLineAndReturnsTheDigest() {
        String d = runStep('verifyRelease', TRUST + [image: DIGEST, environment: 'prod', minApprovals: 2, blobs: ['dist/orders': 'dist/orders.sig']])
        assertEquals(DIGEST, d)
        Map run = verifyCall()
        assertEquals('verifyRelease: prod', run.label)
        assertEquals("mkdir -p '.release-gates' && rm -f '.release-gates/verifyRelease.json'\n" +
            "'/opt/rg/bin/release-evidence' 'verify' '--image' '${DIGEST}' '--environment' 'prod' " +
            "'--expect-repo' 'https://git.example.com/orders.git' '--expect-branch' 'main' " +
            "'--expect-builder' 'https://jenkins.example.com/job/orders/' '--min-approvals' '2' " +
            "'--cosign-key' 'keys/cosign.pub' '--release-key' 'keys/release.pub' " +
            "'--trust-policy' 'keys/trustpolicy.json' '--trust-store' 'keys/truststore' " +
            "'--blob' 'dist/orders=dist/orders.sig' '--result-file' '.release-gates/verifyRelease.json'\n", run.script)
        assertTrue(console.toString().contains("verifyRelease: prod: passed ${DIGEST}"))
        assertEquals([[artifacts: '.release-gates/verifyRelease.json', allowEmptyArchive: true]], callsTo('archiveArtifacts').collect { it[0] })
    }

    @Test
    void itHandsTheVerifiedDigestToTheDeployClosure() {
        List deployed = []
        Script s = loadStep('verifyRelease')
        s.call(TRUST + [image: 'registry.example.com/orders:1.4.0', environment: 'prod']) { String d -> deployed.add(d) }
        assertEquals([DIGEST], deployed)
    }

    @Test
    void itFailsWithTheHelpersRejectionAndNeverDeploys() {
        status = 1
        message = 'registry.example.com/orders@sha256:abab is not releasable: notation: no signature found'
        List deployed = []
        try {
            loadStep('verifyRelease').call(TRUST + [image: DIGEST, environment: 'prod']) { String d -> deployed.add(d) }
            fail('expected a rejection')
        } catch (PipelineError e) {
            assertEquals("verifyRelease: rejected: ${message}".toString(), e.message)
        }
        assertEquals([], deployed)
        assertTrue(console.toString().contains('verifyRelease:   image signatures rejected: '))
    }

    @Test
    void itMapsBadInputAndOutagesToTheirErrors() {
        status = 2
        message = 'reading trust policy: no such file or directory'
        assertEquals("verifyRelease: bad input or configuration: ${message}".toString(), failureOf(TRUST + [image: DIGEST, environment: 'prod']))
        status = 3
        message = 'registry unavailable after 3 tries'
        assertEquals("verifyRelease: infrastructure unavailable: ${message} (retry later)".toString(), failureOf(TRUST + [image: DIGEST, environment: 'prod']))
    }

    @Test
    void itRefusesAPassWithoutADigest() {
        reportedDigest = null
        assertTrue(failureOf(TRUST + [image: DIGEST, environment: 'prod']).contains('reported no digest'))
    }

    @Test
    void itRunsRollbackWithTheIndexAndBindsTheAuditKeyOnlyThroughCredentials() {
        reportedDigest = OLD
        List deployed = []
        String d = loadStep('verifyRelease').call(TRUST + [rollback: true, environment: 'prod', current: DIGEST, index: '/var/lib/rg/orders.jsonl',
            auditPubs: ['keys/audit.pub'], auditKeyCredentialsId: 'audit-key', auditPasswordCredentialsId: 'audit-password']) { String x -> deployed.add(x) }
        assertEquals(OLD, d)
        assertEquals([OLD], deployed)
        Map run = verifyCall()
        assertEquals('verifyRelease: rollback target for prod', run.label)
        assertTrue(run.script, run.script.contains("/opt/rg/bin/release-evidence' 'rollback' '--index-pub' 'keys/audit.pub' '--current' '${DIGEST}' '--environment' 'prod'"))
        assertTrue(run.script, run.script.contains("'--index' '/var/lib/rg/orders.jsonl' '--audit-key' \"\$RG_AUDIT_KEY\" '--result-file'"))
        assertEquals([RG_AUDIT_KEY: KEY_PEM, COSIGN_PASSWORD: PASSWORD], envSeen)
        for (Map c : shCalls()) {
            for (String secret : secrets()) {
                assertFalse("secret on a command line: ${c.script}", c.script.contains(secret.trim()))
            }
        }
        assertFalse(console.toString().contains(PASSWORD))
        assertEquals([[[credentialsId: 'audit-key', variable: 'RG_AUDIT_KEY']]], callsTo('file'))
    }

    @Test
    void itPassesTheKeyringSoKeysItArchivedOrRevokedAreNoLongerTrusted() {
        runStep('verifyRelease', TRUST + [image: DIGEST, environment: 'prod', revokedKeyIds: ['3f1c9a0b7d2e4f65'], keyring: 'keys/keys.yaml'])
        assertTrue(verifyCall().script, verifyCall().script.contains(
            "'--trust-store' 'keys/truststore' '--revoked-key-id' '3f1c9a0b7d2e4f65' '--keyring' 'keys/keys.yaml' '--result-file'"))
        calls.clear()
        reportedDigest = OLD
        runStep('verifyRelease', TRUST + [rollback: true, environment: 'prod', index: '/var/lib/rg/orders.jsonl', auditPubs: ['keys/audit.pub'],
            auditKey: 'keys/audit.key', keyring: "keys/it's keys.yaml"])
        assertTrue(verifyCall().script, verifyCall().script.contains("'rollback' ") &&
            verifyCall().script.contains("'--keyring' 'keys/it'\"'\"'s keys.yaml' '--index' '/var/lib/rg/orders.jsonl'"))
    }

    @Test
    void itRejectsAReleaseTheKeyringNoLongerTrustsWithTheHelpersMessage() {
        status = 1
        message = 'registry.example.com/orders@sha256:abab is not releasable: revoked: cosign key 3f1c9a0b7d2e4f65 is revoked in keys.yaml as sign-2025'
        assertEquals("verifyRelease: rejected: ${message}".toString(), failureOf(TRUST + [image: DIGEST, environment: 'prod', keyring: 'keys/keys.yaml']))
        assertTrue(verifyCall().script.contains("'--keyring' 'keys/keys.yaml'"))
    }

    @Test
    void itChecksTheParametersBeforeRunningAnything() {
        Map cases = [
            ([environment: 'prod'] + TRUST)                                    : 'verifyRelease: missing image: every release is checked',
            ([image: DIGEST] + TRUST)                                          : "verifyRelease: parameter 'environment' is required",
            ([image: DIGEST, environment: 'prod'])                             : 'verifyRelease: missing expectRepo, expectBranch, cosignKeys, releaseKeys, trustPolicy and trustStore',
            (TRUST + [rollback: true, environment: 'prod'])                    : 'verifyRelease: rollback needs index',
            (TRUST + [rollback: true, environment: 'prod', image: DIGEST])     : 'verifyRelease: rollback finds the image itself',
            (TRUST + [image: DIGEST, environment: 'prod', index: 'i.jsonl'])   : 'verifyRelease: index, ledger and rollback records are signed',
            (TRUST + [image: DIGEST, environment: 'prod', minApprovals: 0])    : 'verifyRelease: minApprovals must be a whole number of at least 1',
            (TRUST + [image: DIGEST, environment: 'prod', blobs: ['a', 'b']])  : "verifyRelease: parameter 'blobs' must be a Map",
            (TRUST + [image: DIGEST, environment: 'prod', keyring: ['k.yaml']]): "verifyRelease: parameter 'keyring' must be a String",
        ]
        cases.each { Map config, String want ->
            calls.clear()
            String got = failureOf(config)
            assertTrue("${config}: got ${got}", got.startsWith(want))
            assertEquals([], shCalls())
        }
        env.remove('JOB_URL')
        assertTrue(failureOf(TRUST + [image: DIGEST, environment: 'prod']).contains('expectBuilder (or run in a job with JOB_URL)'))
    }

    @Test
    void theReturnedDigestSerializesForCps() {
        Object d = runStep('verifyRelease', TRUST + [image: DIGEST, environment: 'prod'])
        assertTrue(d instanceof String)
        new ObjectOutputStream(new ByteArrayOutputStream()).writeObject(d)
    }
}
