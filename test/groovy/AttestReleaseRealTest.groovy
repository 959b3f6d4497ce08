import groovy.json.JsonOutput
import io.releasegates.HelperRunner
import org.junit.Before
import org.junit.Test

import java.security.MessageDigest

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/**
 * attestRelease driving the real bin/release-evidence (keys from bin/sign-artifacts) with a real sh on a blob: the
 * DSSE envelopes name the file's sha256, their signatures verify with openssl, and the audit ledger verifies.
 */
class AttestReleaseRealTest extends PipelineTestBase {
    static final String RELEASE_PASSWORD = 'real-release-pa55word'
    static final String AUDIT_PASSWORD = 'real-audit-pa55word'
    static final String TRACE = 'rg-' + 'b2' * 16
    static final String COMMIT = '3f1c9a0b7d2e4f6512ab34cd56ef7890a1b2c3d4'

    @Before
    void realHelpersKeysABlobAndAnApproval() {
        useRealHelpers()
        env.RELEASE_TRACE_ID = TRACE
        env.GIT_URL = 'https://git.example.com/shop/orders.git'
        env.GIT_COMMIT = COMMIT
        env.BRANCH_NAME = 'main'
        credentials['release-password'] = RELEASE_PASSWORD
        credentials['audit-password'] = AUDIT_PASSWORD
        generateKey('release', 'release-password')
        generateKey('audit', 'audit-password')
        file('bin').mkdirs()
        file('bin/orders').bytes = (0..4095).collect { (byte) (it * 31) } as byte[]
        file('.release-gates/goBuildGate.json').text = JsonOutput.toJson([helper: 'go-build-gate', verb: 'run', status: 'passed', trace_id: TRACE,
            items: [[name: 'modverify', kind: 'check', status: 'passed'], [name: 'apidiff', kind: 'check', status: 'passed']]])
        // The workspace file lists a third approver the relay never counted: only the signed record's approvers are attested.
        file('.release-gates/slackApproval.json').text = JsonOutput.toJson([decision: 'approved', required: 2, traceId: TRACE, service: 'orders',
            environment: 'prod', approvers: [[approver: 'U02BOB', approverName: 'bob'], [approver: 'U03CAROL', approverName: 'carol'],
                                             [approver: 'U09MALLORY', approverName: 'mallory']],
            auditFile: '.release-gates/approval-audit.jsonl', decisionRecord: '.release-gates/slackApproval-decision.json'])
        relaySignedRecord()
        credentials['relay-public-key'] = file('keys/relay.pub').text
        file('.release-gates/approval-audit.jsonl').text =
            '{"time":"2026-01-02T03:04:05Z","event":"approved","trace_id":"' + TRACE + '","user":"U02BOB","by":"bob","environment":"prod"}\n'
        calls.clear()
    }

    /** Creates keys/<name>.key (+ .pub) with the real sign-artifacts, encrypted with the password credential. */
    void generateKey(String name, String passwordId) {
        Script script = new GroovyShell(this.class.classLoader, binding).parse('1')
        Map r = HelperRunner.run(script, [step: 'test', helper: 'sign-artifacts', verb: 'keys generate',
            args: ['--type', 'file', '--out-prefix', new File(workspace, "keys/${name}").path], resultFile: ".release-gates/keygen-${name}.json".toString(),
            credentials: [[$class: 'string', credentialsId: passwordId, variable: 'COSIGN_PASSWORD']]])
        assertEquals('passed', r.status)
    }

    void openssl(List<String> cmd) {
        Process p = new ProcessBuilder(['openssl'] + cmd).directory(workspace).redirectErrorStream(true).start()
        String out = p.inputStream.text
        assertEquals("openssl ${cmd.join(' ')}: ${out}".toString(), 0, p.waitFor())
    }

    /** Plays the relay: a P-256 key (keys/relay.pub) and a DSSE decision record approving bin/orders, signed with openssl. */
    void relaySignedRecord() {
        openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'keys/relay.key'])
        openssl(['ec', '-in', 'keys/relay.key', '-pubout', '-out', 'keys/relay.pub'])
        String type = 'application/vnd.release-gates.approval-decision+json'
        byte[] body = JsonOutput.toJson([requestId: 'req-real-1', traceId: TRACE, service: 'orders', environment: 'prod', commit: COMMIT,
            digests: ['sha256:' + sha256(file('bin/orders').bytes)], decision: 'approved',
            rule: [service: 'orders', environment: 'prod', approvers: ['U02BOB', 'U03CAROL'], required: 2, allowSelfApproval: false, maxTimeout: '1h0m0s'],
            approvers: [[slackId: 'U02BOB', name: 'bob', decision: 'approve', eventId: '1-U02BOB', at: '2026-01-02T03:04:05Z'],
                        [slackId: 'U03CAROL', name: 'carol', decision: 'approve', eventId: '1-U03CAROL', at: '2026-01-02T03:04:06Z']]]).getBytes('UTF-8')
        ByteArrayOutputStream pae = new ByteArrayOutputStream()
        pae.write("DSSEv1 ${type.bytes.length} ${type} ${body.length} ".getBytes('UTF-8'))
        pae.write(body)
        file('record-pae.bin').bytes = pae.toByteArray()
        openssl(['dgst', '-sha256', '-sign', 'keys/relay.key', '-out', 'record-sig.der', 'record-pae.bin'])
        file('.release-gates/slackApproval-decision.json').text = JsonOutput.toJson([payloadType: type, payload: body.encodeBase64().toString(),
            signatures: [[keyid: '', sig: file('record-sig.der').bytes.encodeBase64().toString()]]])
    }

    static String sha256(byte[] b) {
        return MessageDigest.getInstance('SHA-256').digest(b).encodeHex().toString()
    }

    /** Checks the DSSE envelope's signature with openssl and the release public key; returns the decoded statement. */
    Map verifiedStatement(String path) {
        Map envelope = new groovy.json.JsonSlurperClassic().parseText(file(path).text)
        byte[] payload = envelope.payload.decodeBase64()
        String type = envelope.payloadType
        ByteArrayOutputStream pae = new ByteArrayOutputStream()
        pae.write("DSSEv1 ${type.bytes.length} ${type} ${payload.length} ".getBytes('UTF-8'))
        pae.write(payload)
        file('pae.bin').bytes = pae.toByteArray()
        file('sig.der').bytes = envelope.signatures[0].sig.decodeBase64()
        Process p = new ProcessBuilder('openssl', 'dgst', '-sha256', '-verify', 'keys/release.pub', '-signature', 'sig.der', 'pae.bin')
            .directory(workspace).redirectErrorStream(true).start()
        String out = p.inputStream.text
        assertEquals("openssl on ${path}: ${out}".toString(), 0, p.waitFor())
        return new groovy.json.JsonSlurperClassic().parseText(new String(payload, 'UTF-8'))
    }

    @Test
    void itWritesSignedProvenanceAndApprovalForABlobAndAVerifiableLedger() {
        Map r = runStep('attestRelease', [blobs: ['bin/orders'], environment: 'prod', releaseKey: 'keys/release.key',
            releasePasswordCredentialsId: 'release-password', auditKey: 'keys/audit.key', auditPasswordCredentialsId: 'audit-password',
            relayPublicKeyCredentialsId: 'relay-public-key',
            module: 'example.com/orders', goos: 'linux', goarch: 'amd64'])
        assertEquals('passed', r.status)
        String want = sha256(file('bin/orders').bytes)

        Map prov = verifiedStatement('.release-gates/attestations/orders.provenance.intoto.json')
        assertEquals([[name: 'orders', digest: [sha256: want]]], prov.subject)
        assertEquals('https://slsa.dev/provenance/v1', prov.predicateType)
        assertEquals(env.BUILD_URL, prov.predicate.runDetails.builder.id)
        assertTrue(JsonOutput.toJson(prov.predicate), JsonOutput.toJson(prov.predicate).contains(COMMIT))

        Map appr = verifiedStatement('.release-gates/attestations/orders.approval.intoto.json')
        assertEquals(want, appr.subject[0].digest.sha256)
        assertEquals(['U02BOB', 'U03CAROL'], appr.predicate.approvers*.user)
        assertEquals('the relay-signed record is embedded verbatim', new groovy.json.JsonSlurperClassic().parseText(
            file('.release-gates/slackApproval-decision.json').text), appr.predicate.decisionRecord)
        assertEquals(['U02BOB', 'U03CAROL'], r.approvers)
        assertEquals('prod', appr.predicate.environment)
        assertEquals(['sha256:' + want, 'sha256:' + want], r.items*.details*.digest)

        Script script = new GroovyShell(this.class.classLoader, binding).parse('1')
        Map v = HelperRunner.run(script, [step: 'test', helper: 'release-evidence', verb: 'audit verify',
            args: ['--ledger', '.release-gates/audit.jsonl', '--pub', 'keys/audit.pub'], resultFile: '.release-gates/audit-verify.json'])
        assertEquals('passed', v.status)
        assertEquals('gate result, two attestation results and one approval audit line', 4, v.data.records)
        assertEquals(r.ledgerHead, v.data.head)
        for (String secret : secrets()) {
            assertFalse('secret on a command line', shCalls()*.script.join('\n').contains(secret))
            assertFalse('secret in a result', new File(workspace, '.release-gates').listFiles().any { it.isFile() && it.text.contains(secret) })
        }
    }

    @Test
    void aWrongReleaseKeyPasswordIsBadInputAndWritesNoAttestation() {
        credentials['release-password'] = 'not-the-password'
        try {
            runStep('attestRelease', [blobs: ['bin/orders'], approval: null, releaseKey: 'keys/release.key', releasePasswordCredentialsId: 'release-password'])
            fail('expected attestRelease to fail')
        } catch (PipelineError e) {
            assertTrue(e.message, e.message.startsWith('attestRelease: bad input or configuration: '))
        }
        assertFalse(file('.release-gates/attestations/orders.provenance.intoto.json').exists())
        assertEquals(2, new groovy.json.JsonSlurperClassic().parseText(file('.release-gates/attestRelease.json').text).exit_code)
    }

    @Test
    void anApprovalWithoutTheRelayKeyIsBadInputAndWritesNoAttestation() {
        try {
            runStep('attestRelease', [blobs: ['bin/orders'], environment: 'prod', releaseKey: 'keys/release.key', releasePasswordCredentialsId: 'release-password'])
            fail('expected attestRelease to fail')
        } catch (PipelineError e) {
            assertTrue(e.message, e.message.startsWith('attestRelease: bad input or configuration: relayPublicKey is required to attest an approval'))
        }
        assertFalse(file('.release-gates/attestations/orders.approval.intoto.json').exists())
        assertFalse(file('.release-gates/attestations/orders.provenance.intoto.json').exists())
    }
}
