import io.releasegates.HelperRunner
import org.junit.Before
import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/**
 * verifyRelease driving the real bin/release-evidence (and bin/sign-artifacts for the audit key) with a real sh:
 * the signed evidence index, its tamper check and rollback's "no candidate" path, end to end through the runner.
 */
class VerifyReleaseRealTest extends PipelineTestBase {
    static final String PASSWORD = 'real-audit-pa55word'
    Map trust

    @Before
    void realHelpersAKeyAndTrustFiles() {
        useRealHelpers()
        credentials['audit-password'] = PASSWORD
        Script script = new GroovyShell(this.class.classLoader, binding).parse('1')
        Map r = HelperRunner.run(script, [step: 'test', helper: 'sign-artifacts', verb: 'keys generate',
            args: ['--type', 'file', '--out-prefix', new File(workspace, 'keys/audit').path], resultFile: '.release-gates/keygen.json',
            credentials: [[$class: 'string', credentialsId: 'audit-password', variable: 'COSIGN_PASSWORD']]])
        assertEquals('passed', r.status)
        new File(workspace, 'keys/truststore/x509/ca/release').mkdirs()
        file('keys/trustpolicy.json').text = '{"version":"1.0","trustPolicies":[{"name":"all","registryScopes":["*"],' +
            '"signatureVerification":{"level":"strict"},"trustStores":["ca:release"],"trustedIdentities":["*"]}]}'
        for (List<String> cmd : [['openssl', 'ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'keys/relay.key'],
                                 ['openssl', 'ec', '-in', 'keys/relay.key', '-pubout', '-out', 'keys/relay.pub']]) {
            Process p = new ProcessBuilder(cmd).directory(workspace).redirectErrorStream(true).start()
            String out = p.inputStream.text
            assertEquals("${cmd.join(' ')}: ${out}".toString(), 0, p.waitFor())
        }
        trust = [expectRepo: 'https://git.example.com/orders.git', expectBranch: 'main', expectBuilder: 'https://jenkins.example.com/job/orders/',
                 cosignKeys: ['keys/audit.pub'], releaseKeys: ['keys/audit.pub'], relayPublicKeys: ['keys/relay.pub'], trustPolicy: 'keys/trustpolicy.json',
                 trustStore: 'keys/truststore', auditPubs: ['keys/audit.pub'], auditKey: 'keys/audit.key',
                 auditPasswordCredentialsId: 'audit-password', index: 'releases.jsonl']
        calls.clear()
    }

    /** Appends a release record for environment to the index with the real helper. */
    void recordRelease(String environment, String digest) {
        Script script = new GroovyShell(this.class.classLoader, binding).parse('1')
        Map r = HelperRunner.run(script, [step: 'test', helper: 'release-evidence', verb: 'audit append',
            args: ['--ledger', 'releases.jsonl', '--kind', 'release', '--status', 'verified', '--environment', environment, '--subject', digest,
                   '--audit-key', 'keys/audit.key'], resultFile: '.release-gates/append.json',
            credentials: [[$class: 'string', credentialsId: 'audit-password', variable: 'COSIGN_PASSWORD']]])
        assertEquals('passed', r.status)
    }

    String failureOf(Map config) {
        try {
            runStep('verifyRelease', config)
        } catch (PipelineError e) {
            return e.message
        }
        fail('expected verifyRelease to fail')
    }

    @Test
    void rollbackWithNoReleaseForTheEnvironmentIsARejection() {
        recordRelease('staging', 'registry.example.com/orders@sha256:' + 'ab' * 32)
        String msg = failureOf(trust + [rollback: true, environment: 'prod'])
        assertEquals("verifyRelease: rejected: no earlier release for environment prod in releases.jsonl to roll back to", msg)
        assertEquals('rejected', new groovy.json.JsonSlurperClassic().parseText(file('.release-gates/verifyRelease.json').text).status)
        assertFalse(shCalls()*.script.join('\n').contains(PASSWORD))
    }

    @Test
    void rollbackRefusesATamperedIndexAndNamesTheBadRecord() {
        recordRelease('prod', 'registry.example.com/orders@sha256:' + 'ab' * 32)
        recordRelease('prod', 'registry.example.com/orders@sha256:' + 'cd' * 32)
        File idx = file('releases.jsonl')
        idx.text = idx.text.replaceFirst('abab', 'efef')
        String msg = failureOf(trust + [rollback: true, environment: 'prod'])
        assertTrue(msg, msg.startsWith('verifyRelease: rejected: the evidence index does not verify: ledger releases.jsonl: record 1 is bad: signature does not verify'))
    }

    @Test
    void verifyWithAMissingTrustPolicyIsBadInput() {
        String msg = failureOf(trust + [image: 'registry.example.com/orders@sha256:' + 'ab' * 32, environment: 'prod', trustPolicy: 'keys/none.json',
                                        index: null])
        assertTrue(msg, msg.startsWith('verifyRelease: bad input or configuration: trustPolicy/trustStore: reading trust policy'))
    }

    @Test
    void verifyWithoutTheRelayKeyIsBadInputNamingTheKey() {
        String msg = failureOf(trust.findAll { it.key != 'relayPublicKeys' } + [image: 'registry.example.com/orders@sha256:' + 'ab' * 32,
                                                                                environment: 'prod', minApprovals: 2, index: null])
        assertTrue(msg, msg.startsWith('verifyRelease: bad input or configuration: relayPublicKeys is required: an approval counts toward minApprovals only through the relay-signed decision record'))
    }
}
