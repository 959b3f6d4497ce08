import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic
import org.junit.Before
import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/**
 * verifyRelease with a recorded sh: one helper call on the runner contract, the digest handed back and to the deploy
 * closure, errors, secrets (the cross-parameter rules: helpers/internal/release step tests).
 */
class VerifyReleaseTest extends PipelineTestBase {
    static final String HELPER = '/opt/rg/bin/release-evidence'
    static final String DIGEST = 'registry.example.com/orders@sha256:' + 'ab' * 32
    static final String KEY_PEM = '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAUDITKEYMATERIAL\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n'
    static final String PASSWORD = 'audit-pa55-never-logged'
    static final Map TRUST = [expectRepo: 'https://git.example.com/orders.git', expectBranch: 'main', cosignKeys: ['keys/cosign.pub'],
                              releaseKeys: ['keys/release.pub'], trustPolicy: 'keys/trustpolicy.json', trustStore: 'keys/truststore']
    static final String RUN = "mkdir -p '.release-gates' && rm -f '.release-gates/verifyRelease.json'\n" +
        "'${HELPER}' 'run' '--params' '.release-gates/verifyRelease.params.json' '--result-file' '.release-gates/verifyRelease.json'\n"

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
        mockSh(/release-evidence' 'run'/) { Map a -> answer() }
    }

    int answer() {
        Map doc = new JsonSlurperClassic().parseText(file('.release-gates/verifyRelease.params.json').text)
        doc.secrets.each { role, name -> if (env.containsKey(name)) { envSeen[name] = role == 'auditKey' ? new File(env[name].toString()).text : env[name] } }
        String st = status == 0 ? 'passed' : 'rejected'
        List items = [[name: 'image signatures', status: st, message: status == 0 ? null : message], [name: 'provenance', status: 'passed']]
        Map r = [helper: 'release-evidence', verb: 'run', status: st, exit_code: status, message: message, trace_id: env.RELEASE_TRACE_ID,
                 items: items, summary: ["verifyRelease: prod: ${st} ${DIGEST} (trace ${env.RELEASE_TRACE_ID})".toString()],
                 returns: [status: st, exit_code: status, digest: status == 0 ? reportedDigest : '', environment: 'prod', items: items]]
        file('.release-gates/verifyRelease.json').text = JsonOutput.toJson(r)
        return status
    }

    String failureOf(Map config, Closure deploy = null) {
        try {
            loadStep('verifyRelease').call(config, deploy)
        } catch (PipelineError e) {
            return e.message
        }
        fail('expected verifyRelease to fail')
    }

    @Test
    void itRunsOneHelperCallAndReturnsTheDigest() {
        Map config = TRUST + [image: DIGEST, environment: 'prod', minApprovals: 2, blobs: ['dist/orders': 'dist/orders.sig']]
        assertEquals(DIGEST, runStep('verifyRelease', config))
        assertEquals(['verifyRelease: locate release-evidence', 'verifyRelease: run'], shCalls()*.label)
        assertEquals(RUN, shCalls()[1].script)
        Map doc = new JsonSlurperClassic().parseText(file('.release-gates/verifyRelease.params.json').text)
        assertEquals('verifyRelease', doc.step)
        assertEquals(config, doc.params)
        assertEquals('https://jenkins.example.com/job/orders/', doc.context.jobUrl)
        assertTrue(console.toString().contains("verifyRelease: prod: passed ${DIGEST}"))
        assertEquals([[artifacts: '.release-gates/verifyRelease.json,.release-gates/verifyRelease.params.json', allowEmptyArchive: true]],
            callsTo('archiveArtifacts').collect { it[0] })
    }

    @Test
    void itHandsTheVerifiedDigestToTheDeployClosure() {
        List deployed = []
        String d = loadStep('verifyRelease').call(TRUST + [image: DIGEST, environment: 'prod']) { String digest -> deployed.add(digest) }
        assertEquals(DIGEST, d)
        assertEquals([DIGEST], deployed)
    }

    @Test
    void itFailsWithTheHelpersRejectionAndNeverDeploys() {
        status = 1
        message = 'image signatures: no valid notation signature'
        List deployed = []
        assertEquals('verifyRelease: rejected: image signatures: no valid notation signature',
            failureOf(TRUST + [image: DIGEST, environment: 'prod']) { String digest -> deployed.add(digest) })
        assertEquals([], deployed)
    }

    @Test
    void itMapsBadInputAndOutagesToTheirErrors() {
        status = 2
        message = "cosignKeys 'keys/cosign.pub': no such file"
        assertEquals("verifyRelease: bad input or configuration: cosignKeys 'keys/cosign.pub': no such file", failureOf(TRUST + [image: DIGEST, environment: 'prod']))
        status = 3
        message = 'registry unavailable'
        assertEquals('verifyRelease: infrastructure unavailable: registry unavailable (retry later)', failureOf(TRUST + [image: DIGEST, environment: 'prod']))
    }

    @Test
    void itRefusesAPassWithoutADigest() {
        reportedDigest = ''
        List deployed = []
        assertEquals('verifyRelease: release-evidence passed but reported no digest; refusing to hand an unverified image to deploy',
            failureOf(TRUST + [image: DIGEST, environment: 'prod']) { String digest -> deployed.add(digest) })
        assertEquals([], deployed)
    }

    @Test
    void itBindsTheAuditKeyOnlyThroughCredentials() {
        runStep('verifyRelease', TRUST + [rollback: true, environment: 'prod', index: 'evidence/index.jsonl', auditPubs: ['keys/audit.pub'],
                                          auditKeyCredentialsId: 'audit-key', auditPasswordCredentialsId: 'audit-password'])
        assertEquals([[[[$class: 'file', credentialsId: 'audit-key', variable: 'RG_AUDIT_KEY'],
                        [$class: 'string', credentialsId: 'audit-password', variable: 'COSIGN_PASSWORD']]]], callsTo('withCredentials'))
        assertEquals([RG_AUDIT_KEY: KEY_PEM, COSIGN_PASSWORD: PASSWORD], envSeen)
        String everything = shCalls()*.script.join('\n') + console + file('.release-gates/verifyRelease.params.json').text
        assertFalse(everything.contains(PASSWORD))
        assertFalse(everything.contains('AUDITKEYMATERIAL'))
    }

    @Test
    void itRequiresTheEnvironmentAndChecksTypesBeforeRunningAnything() {
        Map cases = [
            "verifyRelease: parameter 'environment' is required (see vars/verifyRelease.txt)"                       : TRUST + [image: DIGEST],
            "verifyRelease: parameter 'minApprovals' must be an Integer, got String '2' (see vars/verifyRelease.txt)" : TRUST + [image: DIGEST, environment: 'prod', minApprovals: '2'],
            "verifyRelease: parameter 'cosignKeys' must be a List of Strings, got String 'k.pub' (see vars/verifyRelease.txt)"  : TRUST + [image: DIGEST, environment: 'prod', cosignKeys: 'k.pub'],
            "verifyRelease: parameter 'blobs' must be a Map, got List [a] (see vars/verifyRelease.txt)"              : TRUST + [image: DIGEST, environment: 'prod', blobs: ['a']],
        ]
        cases.each { want, config -> assertEquals(want, failureOf(config)) }
        for (String key : ['expectRepo', 'expectBranch', 'cosignKeys', 'releaseKeys', 'trustPolicy', 'trustStore']) {
            assertEquals("verifyRelease: parameter '${key}' is required (see vars/verifyRelease.txt)".toString(),
                failureOf(TRUST.findAll { it.key != key } + [image: DIGEST, environment: 'prod']))
        }
        assertEquals("verifyRelease: parameter 'cosignKeys' is required (see vars/verifyRelease.txt)", failureOf(TRUST + [image: DIGEST, environment: 'prod', cosignKeys: []]))
        assertEquals("verifyRelease: parameter 'image' is required unless 'rollback' is set (see vars/verifyRelease.txt)", failureOf(TRUST + [environment: 'prod']))
        assertEquals("verifyRelease: parameter 'image' is required unless 'rollback' is set (see vars/verifyRelease.txt)", failureOf(TRUST + [environment: 'prod', rollback: false, image: '']))
        assertEquals("verifyRelease: parameter 'trustStore' is required (see vars/verifyRelease.txt)", failureOf(TRUST + [image: DIGEST, environment: 'prod', trustStore: ' ']))
        assertEquals("verifyRelease: parameter 'releaseKeys' must be a List of Strings, got List [[k.pub]] (see vars/verifyRelease.txt)",
            failureOf(TRUST + [image: DIGEST, environment: 'prod', releaseKeys: [['k.pub']]]))
        String msg = failureOf(TRUST + [image: DIGEST, environment: 'prod', expectBrnach: 'main'])
        assertTrue(msg, msg.startsWith("verifyRelease: unknown parameter 'expectBrnach' (did you mean 'expectBranch'?)"))
        assertEquals([], shCalls())
    }
}
