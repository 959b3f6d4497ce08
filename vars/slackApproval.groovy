import com.cloudbees.groovy.cps.NonCPS
import io.releasegates.HelperRunner
import io.releasegates.StepConfig
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException

/** Returns slackApproval's parameters and defaults; vars/slackApproval.txt documents every key. */
Map defaults() {
    return [
        relayUrl          : null,                                // the approval relay's base URL; default env.RG_RELAY_URL
        relayPublicKey    : null,                                // PEM public key of the relay's decision key (workspace path)
        relayCredentialsId: 'release-gates-relay',               // secret text: this controller's relay credential (RG_RELAY_TOKEN)
        channel           : null,                                // Slack channel id (C...) unless the relay's rule names one
        service           : null,                                // service name, matched against the relay's rules
        environment       : null,                                // target environment
        version           : null,                                // release version shown in the message
        commit            : null,                                // commit sha; default env.GIT_COMMIT
        branch            : null,                                // release branch; default env.BRANCH_NAME
        digests           : [],                                  // artifact digests (sha256:...) the approval covers
        summaries         : [],                                  // result files of earlier steps, summarised in the message
        requesters        : [],                                  // Slack user ids added as requesters (never removes Jenkins' own)
        timeout           : '24h',                               // longest wait, capped by the rule; also the step's backstop
        agentLabel        : null,                                // run the helper calls in node(agentLabel); the wait holds no executor
        unstash           : [],                                  // stashes to unstash in node(agentLabel): summaries, the public key
        resultFile        : '.release-gates/slackApproval.json', // the returned map as JSON; helper results beside it
    ]
}

/** Asks the approval relay for an approval, waits in one input (no executor held), verifies the relay-signed decision and returns it. */
Map call(Map config = [:]) {
    Map c = StepConfig.resolve(this, 'slackApproval', defaults(), config, ['service', 'environment', 'version', 'relayPublicKey'],
        [relayUrl: String, relayPublicKey: String, relayCredentialsId: String, channel: String, service: String, environment: String,
         version: String, commit: String, branch: String, digests: List, summaries: List, requesters: List, timeout: String, agentLabel: String,
         unstash: List, resultFile: String])
    c.relayUrl = c.relayUrl ?: (env.RG_RELAY_URL ?: null)
    if (c.unstash && !c.agentLabel) {
        error('slackApproval: unstash applies to the node(agentLabel) blocks: set agentLabel too, or unstash before calling the step')
    }
    if (!c.relayUrl) {
        error('slackApproval: relayUrl is required (the approval relay, e.g. https://approvals.example.com), or set env.RG_RELAY_URL')
    }
    long total = seconds(c.timeout)
    if (total < 1) {
        error("slackApproval: timeout must be a duration like '24h', '90m' or '1h30m'; got '${c.timeout}'")
    }
    Map s = [c: c]
    onAgent(c) {
        Map r = HelperRunner.run(this, [step: 'slackApproval', helper: 'slack-approval', verb: 'request', params: paramsDoc(c, env),
            credentials: [string(credentialsId: c.relayCredentialsId, variable: 'RG_RELAY_TOKEN')],
            resultFile: HelperRunner.siblingPath(c.resultFile, '-request.json')])
        s.req = r.data
    }
    Map req = s.req
    echo("slackApproval: waiting for ${req.rule?.required} approval(s) of ${c.service} ${c.version} to ${c.environment} in Slack " +
        "(${req.channel}, request ${req.requestId}); the relay (${req.submitter}) answers input '${req.inputId}' by ${req.deadline}")

    Map answer = null
    try {
        // The relay expires the request at its deadline and answers decision=expired; this timeout is only the backstop.
        timeout(time: total + 300L, unit: 'SECONDS') {
            answer = asMap(input(id: req.inputId, message: "Release ${c.service} ${c.version} to ${c.environment}: approve or reject in Slack; " +
                "the approval relay answers here.".toString(), ok: 'Proceed', submitter: req.submitter, parameters: inputParameters(req.inputParams)))
        }
    } catch (FlowInterruptedException e) {
        error("slackApproval: the wait for the relay's answer ended without one (aborted or past ${c.timeout} + 5m); request ${req.requestId}")
    }
    if (answer == null || !answer.decisionRecord || answer.requestId != req.requestId) {
        error("slackApproval: the input was answered without the relay's decision for request ${req.requestId}; answer only in Slack")
    }
    Map out = null
    onAgent(c) {
        String recordFile = HelperRunner.siblingPath(c.resultFile, '-decision.json')
        writeFile(file: recordFile, text: answer.decisionRecord)
        Map v = HelperRunner.run(this, [step: 'slackApproval', helper: 'slack-approval', verb: 'verify',
            args: ['--record', recordFile, '--public-key', c.relayPublicKey, '--request-id', req.requestId, '--service', c.service,
                   '--environment', c.environment],
            resultFile: HelperRunner.siblingPath(c.resultFile, '-verify.json'), allowFailure: true])
        out = outcome(c, req, v.data ?: [:], recordFile)
        writeFile(file: c.resultFile, text: HelperRunner.toJson(out))
        // the rule the relay applied, where attestRelease reads it (four eyes)
        writeFile(file: HelperRunner.siblingPath(c.resultFile, '-rule.json'), text: HelperRunner.toJson([data: [rule: req.rule]]))
        archiveArtifacts(artifacts: [c.resultFile, HelperRunner.siblingPath(c.resultFile, '-*.json')].join(','), allowEmptyArchive: true)
        if (c.agentLabel) {
            // the result, the rule and the decision record, for attestRelease on another agent
            stash(name: 'rg-slack-approval', includes: [c.resultFile, HelperRunner.siblingPath(c.resultFile, '-*.json')].join(','))
        }
        if (v.exit_code == HelperRunner.REJECTED && (v.data?.decision in ['rejected', 'expired'])) {
            error("slackApproval: ${v.data.decision} (request ${req.requestId}${v.data.decision == 'rejected' ? ', by ' + out.rejectedBy.join(', ') : ''})")
        }
        HelperRunner.check(this, 'slackApproval', v)
    }
    echo("slackApproval: approved by ${out.approverNames.join(' and ')} (${out.approvers.size()} of ${out.required}); decision record verified")
    return out
}

/** Runs body on node(agentLabel) when one is set (unstashing first); else runs it here. */
void onAgent(Map c, Closure body) {
    if (!c.agentLabel) {
        body()
        return
    }
    node(c.agentLabel) {
        for (int i = 0; i < c.unstash.size(); i++) {
            unstash(c.unstash[i])
        }
        body()
    }
}

/** Returns the params document for slack-approval request: the Map, the build context, the secret's env name. */
@NonCPS
Map paramsDoc(Map c, Object env) {
    Map p = [:]
    for (String k : ['relayUrl', 'relayPublicKey', 'relayCredentialsId', 'channel', 'service', 'environment', 'version', 'commit', 'branch',
                     'digests', 'summaries', 'requesters', 'timeout', 'agentLabel', 'resultFile']) {
        if (c[k] != null) {
            p[k] = c[k]
        }
    }
    return [step   : 'slackApproval', params: p,
            context: [buildUrl: env.BUILD_URL ?: '', traceId: env.RELEASE_TRACE_ID ?: '', gitCommit: env.GIT_COMMIT ?: '', branch: env.BRANCH_NAME ?: ''],
            secrets: [relayToken: 'RG_RELAY_TOKEN']]
}

/** Returns a Go-style duration ('24h', '90m', '1h30m', '45s') in seconds, or -1 when it is not one. */
@NonCPS
long seconds(String d) {
    java.util.regex.Matcher m = (d ?: '') =~ /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/
    if (!d || !m.matches()) {
        return -1L
    }
    return (m.group(1) ?: '0').toLong() * 3600L + (m.group(2) ?: '0').toLong() * 60L + (m.group(3) ?: '0').toLong()
}

/** Returns the input step's parameters: exactly the ones the relay submits. */
List inputParameters(List names) {
    List p = []
    for (int i = 0; i < names.size(); i++) {
        p.add(string(name: names[i], defaultValue: '', description: "set by the approval relay (${names[i]})".toString()))
    }
    return p
}

/** Returns the input's answer as a plain Map of Strings (null when it is not a Map). */
@NonCPS
Map asMap(Object v) {
    if (!(v instanceof Map)) {
        return null
    }
    Map out = [:]
    for (Map.Entry e : ((Map) v).entrySet()) {
        out[e.key.toString()] = e.value == null ? '' : e.value.toString()
    }
    return out
}

/** Returns the step's outcome from the verified decision record as a plain serializable Map. */
@NonCPS
Map outcome(Map c, Map req, Map d, String recordFile) {
    List approvers = []
    List names = []
    List rejectedBy = []
    for (Object a : (d.approvers ?: [])) {
        if (a.decision == 'approve') {
            approvers.add([approver: a.slackId, approverName: a.name, eventId: a.eventId, at: a.at])
            names.add(a.name.toString())
        } else {
            rejectedBy.add(a.name.toString())
        }
    }
    return [decision   : d.decision ?: 'unverified', approvers: approvers, approverNames: names, rejectedBy: rejectedBy, required: req.rule?.required,
            requesters : d.requesters ?: req.requesters, requestId: req.requestId, traceId: d.traceId, service: c.service,
            environment: c.environment, version: c.version, channel: req.channel, ts: req.ts, decisionRecord: recordFile,
            relayKeyId : req.keyId]
}
