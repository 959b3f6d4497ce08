import groovy.json.JsonOutput
import io.releasegates.HelperRunner
import org.junit.Before
import org.junit.Test

import java.util.regex.Matcher

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertNull
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/** attestRelease with a recorded sh: exact command lines and labels, credentials per call, approval checks, errors, secrets. */
class AttestReleaseTest extends PipelineTestBase {
    static final String HELPER = '/opt/rg/bin/release-evidence'
    static final String TRACE = 'rg-' + 'a1' * 16
    static final String DIGEST = 'registry.example.com/orders@sha256:' + 'ab' * 32
    static final String COMMIT = '3f1c9a0b7d2e4f6512ab34cd56ef7890a1b2c3d4'
    static final String RELEASE_KEY = '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nRELEASEKEYMATERIAL\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n'
    static final String AUDIT_KEY = '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAUDITKEYMATERIAL\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n'
    static final String RELEASE_PASSWORD = 'release-pa55-never-logged'
    static final String AUDIT_PASSWORD = 'audit-pa55-never-logged'
    static final String PIN = '271828'
    static final Map KEYS = [releaseKeyCredentialsId: 'release-key', releasePasswordCredentialsId: 'release-password']

    /** Exit status per helper verb ('attest provenance', 'attest approval', 'audit append'); missing means 0. */
    Map<String, Integer> status = [:]
    /** The secrets each verb saw in its environment. */
    Map<String, Map> envSeen = [:]

    @Before
    void helperOnThePathAndABuildWithApproval() {
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
        mockSh(/release-evidence' '(attest|audit)' '\w+'/) { Map a -> answer(a.script.toString()) }
        writeApproval([:])
        file('.release-gates/slackApproval-rule.json').text = JsonOutput.toJson([helper: 'slack-approval', verb: 'rule', status: 'passed',
            data: [rule: [service: 'orders', environment: 'prod', required: 2, allowSelfApproval: false]]])
        file('.release-gates/approval-audit.jsonl').text = '{"event":"approved","user":"U02BOB","environment":"prod"}\n'
        file('.release-gates/goBuildGate.json').text = JsonOutput.toJson([helper: 'go-build-gate', verb: 'run', status: 'passed', items: []])
    }

    /** Writes slackApproval's result file: an approved prod release by two approvers of this trace, changed by overrides. */
    void writeApproval(Map overrides) {
        Map a = [decision: 'approved', approvers: [[approver: 'U02BOB', approverName: 'bob'], [approver: 'U03CAROL', approverName: 'carol']],
                 approverNames: ['bob', 'carol'], required: 2, traceId: TRACE, service: 'orders', environment: 'prod', version: '1.4.0',
                 auditFile: '.release-gates/approval-audit.jsonl'] + overrides
        File f = file('.release-gates/slackApproval.json')
        f.parentFile.mkdirs()
        f.text = JsonOutput.toJson(a)
    }

    /** Plays release-evidence: records the secrets in env, writes a result file for the verb, returns its exit status. */
    int answer(String script) {
        Matcher m = script =~ /release-evidence' '(\w+)' '(\w+)'/
        assertTrue(m.find())
        String verb = "${m.group(1)} ${m.group(2)}"
        Map seen = [:]
        ['RG_RELEASE_KEY', 'RG_AUDIT_KEY'].each { k -> if (env.containsKey(k)) { seen[k] = new File(env[k].toString()).text } }
        ['COSIGN_PASSWORD', 'PKCS11_PIN', 'REGISTRY_USERNAME', 'REGISTRY_PASSWORD'].each { k -> if (env.containsKey(k)) { seen[k] = env[k] } }
        envSeen[verb] = seen
        int code = status[verb] ?: 0
        Matcher rf = script =~ /'--result-file' '([^']+)'/
        assertTrue(rf.find())
        String kind = m.group(2)
        Map r = [helper: 'release-evidence', verb: verb, status: code == 0 ? 'passed' : 'failed', trace_id: env.RELEASE_TRACE_ID,
                 message: code == 0 ? '' : "${verb} went wrong (${code})".toString(), items: [], data: [:]]
        if (code == 0 && m.group(1) == 'attest') {
            if (script.contains("'--image'")) {
                r.items << [name: DIGEST, kind: kind, status: 'passed', details: [digest: 'sha256:' + 'ab' * 32, key_id: '0123456789abcdef',
                            location: 'registry.example.com/orders:sha256-' + 'ab' * 32 + '.att']]
            }
            if (script.contains("'--blob' 'bin/orders'")) {
                r.items << [name: 'bin/orders', kind: kind, status: 'passed', details: [digest: 'sha256:' + 'cd' * 32, key_id: '0123456789abcdef',
                            location: ".release-gates/attestations/orders.${kind}.intoto.json".toString()]]
            }
        }
        if (code == 0 && verb == 'audit append') {
            r.items = [[name: 'go-build-gate run', kind: 'result', status: 'passed'], [name: 'release-evidence attest provenance', kind: 'result', status: 'passed']]
            r.data = [head: 'f' * 64, key_id: 'fedcba9876543210']
        }
        File f = file(rf.group(1))
        f.parentFile.mkdirs()
        f.text = JsonOutput.toJson(r)
        return code
    }

    String failureOf(Map config) {
        try {
            runStep('attestRelease', config)
        } catch (PipelineError e) {
            return e.message
        }
        fail('expected attestRelease to fail')
    }

    Map run(String label) {
        return shCalls().find { it.label == label }
    }

    List<String> helperLabels() {
        return shCalls()*.label.findAll { it != null && !it.contains('locate') }
    }

    @Test
    void itAttestsProvenanceAndTheApprovalWithTheExactCommandLinesAndReturnsTheCombinedResult() {
        Map r = runStep('attestRelease', KEYS + [image: DIGEST, environment: 'prod', module: 'example.com/orders', goos: 'linux', goarch: 'amd64'])
        assertEquals(['attestRelease: provenance', 'attestRelease: approval for prod'], helperLabels())
        assertEquals("mkdir -p '.release-gates' && rm -f '.release-gates/attestRelease-provenance.json'\n" +
            "'${HELPER}' 'attest' 'provenance' '--repo' 'https://git.example.com/shop/orders.git' '--commit' '${COMMIT}' " +
            "'--branch' 'main' '--builder-id' 'http://jenkins.example/job/demo/7/' '--module' 'example.com/orders' '--goos' 'linux' " +
            "'--goarch' 'amd64' '--gate-result' '.release-gates/goBuildGate.json' '--image' '${DIGEST}' '--release-key' \"\$RG_RELEASE_KEY\" " +
            "'--result-file' '.release-gates/attestRelease-provenance.json'\n", run('attestRelease: provenance').script)
        assertEquals("mkdir -p '.release-gates' && rm -f '.release-gates/attestRelease-approval.json'\n" +
            "'${HELPER}' 'attest' 'approval' '--environment' 'prod' '--approver' 'U02BOB' '--approver' 'U03CAROL' '--rule' 'orders/prod' " +
            "'--min-approvals' '2' '--four-eyes' '--build-url' 'http://jenkins.example/job/demo/7/' '--image' '${DIGEST}' " +
            "'--release-key' \"\$RG_RELEASE_KEY\" '--result-file' '.release-gates/attestRelease-approval.json'\n", run('attestRelease: approval for prod').script)

        assertEquals('passed', r.status)
        assertEquals(0, r.exit_code)
        assertEquals(TRACE, r.trace_id)
        assertEquals(['U02BOB', 'U03CAROL'], r.approvers)
        assertEquals(['provenance', 'approval'], r.items*.kind)
        assertNull(r.ledger)
        assertEquals(['.release-gates/attestRelease-provenance.json', '.release-gates/attestRelease-approval.json'], r.resultFiles)
        assertEquals(r, HelperRunner.parseJson(file('.release-gates/attestRelease.json').text))
        assertEquals([[artifacts: '.release-gates/attestRelease.json,.release-gates/attestRelease-provenance.json,' +
            '.release-gates/attestRelease-approval.json', allowEmptyArchive: true]], callsTo('archiveArtifacts').collect { it[0] })
        String out = console.toString()
        assertTrue(out, out.contains('attestRelease: no gate result .release-gates/signArtifacts.json: not recorded'))
        assertTrue(out, out.contains("attestRelease:   provenance ${DIGEST} passed sha256:${'ab' * 32} -> registry.example.com/orders:sha256-"))
        assertTrue(out, out.contains("attestRelease: passed (trace ${TRACE})"))
        new ObjectOutputStream(new ByteArrayOutputStream()).writeObject(r) // survives a CPS step boundary
    }

    @Test
    void itAppendsTheGateResultsAttestationsAndApprovalAuditLinesToTheLedgerWithTheAuditKeyOnly() {
        file('.release-gates/signArtifacts.json').text = JsonOutput.toJson([helper: 'sign-artifacts', verb: 'signArtifacts', status: 'passed', items: []])
        credentials['registry'] = [username: 'ci', password: 'registry-pa55']
        Map r = runStep('attestRelease', KEYS + [image: DIGEST, blobs: ['bin/orders'], environment: 'prod', registryCredentialsId: 'registry',
            auditKeyCredentialsId: 'audit-key', auditPasswordCredentialsId: 'audit-password'])
        assertEquals(['attestRelease: provenance', 'attestRelease: approval for prod', 'attestRelease: audit ledger'], helperLabels())
        assertEquals("mkdir -p '.release-gates' && rm -f '.release-gates/attestRelease-audit.json'\n" +
            "'${HELPER}' 'audit' 'append' '--ledger' '.release-gates/audit.jsonl' '--from-result' '.release-gates/goBuildGate.json' " +
            "'--from-result' '.release-gates/signArtifacts.json' '--from-result' '.release-gates/attestRelease-provenance.json' " +
            "'--from-result' '.release-gates/attestRelease-approval.json' '--from-audit' '.release-gates/approval-audit.jsonl' " +
            "'--audit-key' \"\$RG_AUDIT_KEY\" '--result-file' '.release-gates/attestRelease-audit.json'\n", run('attestRelease: audit ledger').script)
        assertTrue(run('attestRelease: provenance').script.contains("'--image' '${DIGEST}' '--blob' 'bin/orders' '--out-dir' '.release-gates/attestations' "))

        Map release = [RG_RELEASE_KEY: RELEASE_KEY, COSIGN_PASSWORD: RELEASE_PASSWORD, REGISTRY_USERNAME: 'ci', REGISTRY_PASSWORD: 'registry-pa55']
        assertEquals(release, envSeen['attest provenance'])
        assertEquals(release, envSeen['attest approval'])
        assertEquals([RG_AUDIT_KEY: AUDIT_KEY, COSIGN_PASSWORD: AUDIT_PASSWORD], envSeen['audit append'])
        for (Map c : shCalls()) {
            for (String secret : secrets()) {
                assertFalse("secret on a command line: ${c.script}", c.script.contains(secret.trim()))
            }
        }
        for (String secret : secrets()) {
            assertFalse('secret in the console', console.toString().contains(secret.trim()))
        }
        assertEquals([[[credentialsId: 'release-key', variable: 'RG_RELEASE_KEY']], [[credentialsId: 'audit-key', variable: 'RG_AUDIT_KEY']]],
            callsTo('file'))

        assertEquals('.release-gates/audit.jsonl', r.ledger)
        assertEquals('f' * 64, r.ledgerHead)
        assertEquals(['.release-gates/attestations/orders.provenance.intoto.json', '.release-gates/attestations/orders.approval.intoto.json'],
            r.attestations.findAll { it.endsWith('.intoto.json') })
        String archived = callsTo('archiveArtifacts')[0][0].artifacts
        assertTrue(archived, archived.contains('.release-gates/attestations/orders.provenance.intoto.json,.release-gates/attestations/orders.approval.intoto.json'))
        assertTrue(archived, archived.endsWith(',.release-gates/audit.jsonl'))
        assertFalse(archived, archived.contains('.att'))
        assertTrue(console.toString().contains("attestRelease: 2 record(s) appended to .release-gates/audit.jsonl (head ${'f' * 64})"))
    }

    @Test
    void itAttestsProvenanceOnlyWhenApprovalIsNull() {
        file('.release-gates/slackApproval.json').delete()
        Map r = runStep('attestRelease', KEYS + [blobs: ['bin/orders'], approval: null])
        assertEquals(['attestRelease: provenance'], helperLabels())
        assertEquals([], r.approvers)
        assertEquals(['provenance'], r.items*.kind)
    }

    @Test
    void itTakesAGivenRuleAndAnHsmReleaseKeyWithItsPinFromCredentials() {
        file('.release-gates/slackApproval-rule.json').delete()
        String key = 'pkcs11:token=release;object=attest?module-path=/usr/lib/softhsm/libsofthsm2.so'
        runStep('attestRelease', [image: DIGEST, environment: 'prod', rule: 'orders-prod', releaseKey: key, releasePinCredentialsId: 'hsm-pin'])
        String approval = run('attestRelease: approval for prod').script
        assertTrue(approval, approval.contains("'--rule' 'orders-prod' '--min-approvals' '2' '--build-url' "))
        assertFalse('no rule file, so four-eyes is not claimed', approval.contains('--four-eyes'))
        assertTrue(approval, approval.contains("'--release-key' '${key}' '--result-file'"))
        assertEquals([PKCS11_PIN: PIN], envSeen['attest approval'])
        assertEquals([], callsTo('file'))
    }

    @Test
    void itChecksTheParametersBeforeRunningAnything() {
        Map cases = [
            (KEYS + [image: DIGEST])                                          : "attestRelease: parameter 'environment' is required for the approval attestation (or pass approval: null to skip it)",
            (KEYS + [environment: 'prod'])                                    : 'attestRelease: nothing to attest: set image',
            ([image: DIGEST, environment: 'prod'])                            : 'attestRelease: attestations are signed with the release key: set releaseKey or releaseKeyCredentialsId',
            (KEYS + [image: DIGEST, environment: 'prod', releaseKey: 'k.key']) : 'attestRelease: set releaseKey or releaseKeyCredentialsId, not both',
            (KEYS + [image: DIGEST, environment: 'prod', auditKey: 'a.key', auditKeyCredentialsId: 'audit-key']): 'attestRelease: set auditKey or auditKeyCredentialsId, not both',
            ([image: DIGEST, environment: 'prod', releaseKey: 'pkcs11:token=r;object=k;pin-value=1234']): 'attestRelease: a pin-value in releaseKey is refused',
            (KEYS + [image: DIGEST, environment: 'prod', auditKey: 'pkcs11:token=a?pin-value=1']): 'attestRelease: a pin-value in auditKey is refused',
            (KEYS + [blobs: ['bin/orders', 'dist/orders'], approval: null])   : 'attestRelease: two blobs are named orders',
            (KEYS + [blobs: [42], approval: null])                            : 'attestRelease: blobs must list files',
            (KEYS + [image: DIGEST, environment: 'prod', imgae: DIGEST])      : "attestRelease: unknown parameter 'imgae' (did you mean 'image'?)",
            (KEYS + [image: DIGEST, environment: 'prod', plainHttp: 'yes'])   : "attestRelease: parameter 'plainHttp' must be a Boolean",
        ]
        cases.each { Map config, String want ->
            calls.clear()
            String got = failureOf(config)
            assertTrue("${config}: got ${got}", got.startsWith(want))
            assertEquals("${config} ran sh".toString(), [], shCalls())
        }
    }

    @Test
    void itNamesTheMissingSourceFactsWhenJenkinsDidNotSetThem() {
        env.remove('GIT_URL')
        env.remove('BRANCH_NAME')
        assertEquals('attestRelease: missing repo (env.GIT_URL is not set), branch (env.BRANCH_NAME is not set): the provenance names the ' +
            'source and the builder (see vars/attestRelease.txt)', failureOf(KEYS + [image: DIGEST, environment: 'prod']))
        runStep('attestRelease', KEYS + [image: DIGEST, environment: 'prod', repo: 'https://git.example.com/x.git', branch: 'release/1.4'])
        assertTrue(run('attestRelease: provenance').script.contains("'--repo' 'https://git.example.com/x.git' '--commit' '${COMMIT}' '--branch' 'release/1.4' "))
    }

    @Test
    void itRefusesAnApprovalResultThatDoesNotBackThisRelease() {
        Map cases = [
            ([decision: 'rejected'])          : "attestRelease: .release-gates/slackApproval.json records decision 'rejected', not approved",
            ([environment: 'staging'])        : "attestRelease: .release-gates/slackApproval.json approves environment 'staging', not 'prod'",
            ([traceId: 'rg-' + '99' * 16])    : "attestRelease: .release-gates/slackApproval.json belongs to trace rg-${'99' * 16}, not this build's ${TRACE}",
            ([approvers: []])                 : 'attestRelease: .release-gates/slackApproval.json lists no approvers',
        ]
        cases.each { Map overrides, String want ->
            calls.clear()
            writeApproval(overrides)
            String got = failureOf(KEYS + [image: DIGEST, environment: 'prod'])
            assertTrue("${overrides}: got ${got}", got.startsWith(want.toString()))
            assertEquals([], helperLabels())
        }
        file('.release-gates/slackApproval.json').delete()
        assertTrue(failureOf(KEYS + [image: DIGEST, environment: 'prod']).startsWith(
            'attestRelease: approval result .release-gates/slackApproval.json not found: run slackApproval earlier in this build'))
    }

    @Test
    void itMapsTheHelpersExitCodesAndStillRecordsTheAttemptInTheLedger() {
        Map want = [1: 'attestRelease: rejected: attest provenance went wrong (1)',
                    2: 'attestRelease: bad input or configuration: attest provenance went wrong (2)',
                    3: 'attestRelease: infrastructure unavailable: attest provenance went wrong (3) (retry later)',
                    4: "attestRelease: helper bug, please report (helper release-evidence, trace ${TRACE}): attest provenance went wrong (4)".toString()]
        want.each { Integer code, String msg ->
            calls.clear()
            status = ['attest provenance': code]
            assertEquals(msg, failureOf(KEYS + [image: DIGEST, environment: 'prod', auditKey: 'keys/audit.key']))
            assertEquals('the approval is not attested after a failed provenance', ['attestRelease: provenance', 'attestRelease: audit ledger'], helperLabels())
            Map combined = HelperRunner.parseJson(file('.release-gates/attestRelease.json').text)
            assertEquals(code, combined.exit_code)
            assertEquals("attest provenance: attest provenance went wrong (${code})".toString(), combined.message)
        }
        calls.clear()
        status = ['attest approval': 1]
        assertEquals('attestRelease: rejected: attest approval went wrong (1)', failureOf(KEYS + [image: DIGEST, environment: 'prod']))
        calls.clear()
        status = ['audit append': 3]
        assertEquals('attestRelease: infrastructure unavailable: audit append went wrong (3) (retry later)',
            failureOf(KEYS + [image: DIGEST, environment: 'prod', auditKey: 'keys/audit.key']))
    }
}
