import com.cloudbees.groovy.cps.NonCPS
import io.releasegates.HelperRunner
import io.releasegates.StepConfig
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException

/** Returns slackApproval's parameters and defaults; vars/slackApproval.txt documents every key. */
Map defaults() {
    return [
        channel                  : null,                                  // Slack channel id (C...)
        service                  : null,                                  // service name, matched against rbac.yaml's approval rules
        environment              : null,                                  // target environment
        version                  : null,                                  // release version shown in the message
        commit                   : null,                                  // commit sha; default env.GIT_COMMIT
        branch                   : null,                                  // release branch; default env.BRANCH_NAME
        requester                : null,                                  // Slack user id of whoever asked for the release (U...)
        rbac                     : 'rbac.yaml',                           // rbac.yaml with the approval rules, relative to the workspace
        inputId                  : 'ReleaseApproval',                     // id of the input step the relay answers
        relayUser                : null,                                  // Jenkins account of the Slack relay: the only allowed submitter
        timeout                  : '24h',                                 // give up after this long (h, m, s); also the buttons' lifetime
        escalateAfter            : null,                                  // mention escalationGroup in the thread after this long
        escalationGroup          : null,                                  // Slack user group id (S...); default: the rule's escalationGroup
        summaries                : [],                                    // result files of earlier steps, summarised in the message
        slackTokenCredentialsId  : 'slack-bot-token',                     // secret text: bot token, bound as SLACK_BOT_TOKEN
        buttonSecretCredentialsId: 'slack-button-secret',                 // secret text: button signing key, bound as RG_BUTTON_SECRET
        agentLabel               : null,                                  // run the helper calls in node(agentLabel); the wait holds no executor
        unstash                  : [],                                    // stashes to unstash in the first node(agentLabel): rbac.yaml, summaries
        auditFile                : '.release-gates/approval-audit.jsonl', // audit records (JSON lines), archived
        resultFile               : '.release-gates/slackApproval.json',   // the returned map as JSON; helper results sit beside it
    ]
}

/** Asks for approval in Slack and waits (holding no executor) until enough distinct approvers approved; returns the decision map. */
Map call(Map config = [:]) {
    Map c = StepConfig.resolve(this, 'slackApproval', defaults(), config,
        ['channel', 'service', 'environment', 'version', 'requester', 'relayUser'],
        [channel: String, service: String, environment: String, version: String, commit: String, branch: String,
         requester: String, relayUser: String, escalateAfter: String, escalationGroup: String, agentLabel: String])
    c.commit = c.commit ?: (env.GIT_COMMIT ?: null)
    c.branch = c.branch ?: (env.BRANCH_NAME ?: null)
    String problem = problemWith(c)
    if (problem != null) {
        error(problem)
    }
    long total = seconds(c.timeout) * 1000L
    long escalateAt = c.escalateAfter ? seconds(c.escalateAfter) * 1000L : -1L
    Map s = [c: c, traceId: HelperRunner.traceId(this), stashed: false]

    onAgent(s) {
        Map rule = helper(s, 'rule', ['--rbac', c.rbac, '--service', c.service, '--environment', c.environment, '--branch', c.branch], false)
        s.rule = rule.data?.rule ?: [:]
        s.group = c.escalationGroup ?: s.rule.escalationGroup
        if (c.escalateAfter && !s.group) {
            error("slackApproval: escalateAfter needs a group to escalate to: set escalationGroup (S...) or add escalationGroup " +
                "to the ${c.service}/${c.environment} rule in ${c.rbac}")
        }
        Map req = helper(s, 'request', requestArgs(c, (String) env.BUILD_URL), true)
        s.channel = req.data?.channel ?: c.channel
        s.ts = req.data?.ts
    }
    int required = ((s.rule.required ?: 1) as int)
    boolean allowSelf = s.rule.allowSelfApproval == true
    String group = s.group
    echo("slackApproval: waiting for ${required} approval(s) of ${c.service} ${c.version} to ${c.environment} in Slack " +
        "(${s.channel}, ts ${s.ts}, trace ${s.traceId}); answered by ${c.relayUser} through input '${c.inputId}'")

    List approvals = []
    boolean escalated = false
    long start = nowMillis()
    while (approvals.size() < required) {
        long now = nowMillis() - start
        if (now >= total) {
            expire(s, approvals, required)
        }
        boolean beforeEscalation = escalateAt > 0 && !escalated && group
        long until = beforeEscalation ? Math.min(escalateAt, total) : total
        int waitSeconds = (int) ((until - now + 999L) / 1000L)
        Map answer = null
        boolean timedOut = false
        try {
            timeout(time: waitSeconds, unit: 'SECONDS') {
                answer = asMap(input(id: c.inputId, message: inputMessage(c, approvals.size(), required), ok: 'Proceed',
                    submitter: c.relayUser, submitterParameter: 'submitter', parameters: inputParameters()))
            }
        } catch (FlowInterruptedException e) {
            if (!isTimeout(e)) {
                interrupted(s, e)
                throw e
            }
            timedOut = true
        }
        if (timedOut) {
            if (beforeEscalation && until < total) {
                escalated = true
                onAgent(s) {
                    helper(s, 'escalate', ['--channel', s.channel, '--ts', s.ts, '--group', group, '--text',
                        "this release still needs ${required - approvals.size()} approval(s)".toString()], true, true)
                }
                echo("slackApproval: no decision after ${c.escalateAfter}: escalated to ${group}")
                continue
            }
            expire(s, approvals, required)
        }
        String skip = ignoredBecause(c, answer, approvals, allowSelf, (String) s.traceId)
        if (skip != null) {
            echo("slackApproval: ignored an answer: ${skip}")
            if (answer != null && answer.approver && skip.startsWith('self-approval')) {
                onAgent(s) {
                    audit(s, 'denied', answer, skip)
                }
            }
            continue
        }
        if (answer.decision == 'reject') {
            reject(s, answer)
        }
        approvals.add(answer.subMap(['approver', 'approverName', 'eventId', 'comment']))
        onAgent(s) {
            audit(s, 'approved', answer, "approval ${approvals.size()} of ${required}".toString())
        }
        echo("slackApproval: approval ${approvals.size()} of ${required} by ${answer.approverName} (${answer.approver})")
    }

    Map out = outcome(s, 'approved', approvals, required)
    onAgent(s) {
        helper(s, 'update', ['--channel', s.channel, '--ts', s.ts, '--decision', 'approved', '--by', out.approverNames.join(', '),
            '--reason', "${approvals.size()} of ${required} approvals".toString()], true, true)
        finish(s, out)
    }
    return out
}

/** Fails the build as aborted after recording the expiry in the audit log and in Slack. */
void expire(Map s, List approvals, int required) {
    Map c = s.c
    String why = "approval expired after ${c.timeout} (${approvals.size()} of ${required} approvals)".toString()
    Map out = outcome(s, 'expired', approvals, required)
    onAgent(s) {
        audit(s, 'expired', null, why, true)
        helper(s, 'update', ['--channel', s.channel, '--ts', s.ts, '--decision', 'expired', '--reason', why], true, true)
        finish(s, out)
    }
    currentBuild.result = 'ABORTED'
    error("slackApproval: ${why}")
}

/** Fails the build after recording a Reject click in the audit log and in Slack. */
void reject(Map s, Map answer) {
    String comment = answer.comment ?: 'no comment'
    Map out = outcome(s, 'rejected', [answer.subMap(['approver', 'approverName', 'eventId', 'comment'])], 0)
    onAgent(s) {
        audit(s, 'rejected', answer, comment, true)
        helper(s, 'update', ['--channel', s.channel, '--ts', s.ts, '--decision', 'rejected', '--by', answer.approverName ?: answer.approver,
            '--reason', comment], true, true)
        finish(s, out)
    }
    error("slackApproval: rejected by ${answer.approverName} (${answer.approver}): ${comment}")
}

/** Records an abort from Jenkins (not a timeout): the message loses its buttons, the audit log says who aborted. */
void interrupted(Map s, FlowInterruptedException e) {
    String by = abortedBy(e)
    Map out = outcome(s, 'aborted', [], 0)
    onAgent(s) {
        audit(s, 'rejected', [approver: '', approverName: by, decision: 'reject'], "aborted in Jenkins by ${by}".toString(), true)
        helper(s, 'update', ['--channel', s.channel, '--ts', s.ts, '--decision', 'rejected', '--by', by,
            '--reason', 'aborted in Jenkins'], true, true)
        finish(s, out)
    }
}

/** Writes the outcome as resultFile and archives it with the audit file and the helper results. */
void finish(Map s, Map out) {
    Map c = s.c
    writeFile(file: c.resultFile, text: HelperRunner.toJson(out))
    archiveArtifacts(artifacts: [c.resultFile, c.auditFile, HelperRunner.siblingPath(c.resultFile, '-*.json')].join(','),
        allowEmptyArchive: true)
}

/** Appends one audit record (event approved, rejected, denied or expired) to auditFile; lenient only on a path that fails anyway. */
void audit(Map s, String event, Map answer, String reason, boolean lenient = false) {
    Map c = s.c
    List a = ['--audit-file', c.auditFile, '--event', event, '--channel', s.channel, '--ts', s.ts ?: '', '--build-url', env.BUILD_URL ?: '',
              '--input-id', c.inputId, '--service', c.service, '--environment', c.environment, '--reason', reason]
    if (answer != null) {
        a.addAll(['--user', answer.approver ?: '', '--by', answer.approverName ?: '', '--decision', answer.decision ?: ''])
    }
    helper(s, 'audit record', a, false, lenient)
}

/** Runs body on node(agentLabel) when one is set, carrying the audit file between agents with stash; else runs it here. */
void onAgent(Map s, Closure body) {
    String label = s.c.agentLabel
    if (!label) {
        body()
        return
    }
    node(label) {
        if (s.stashed) {
            unstash('rg-slack-approval-audit')
        } else {
            for (int i = 0; i < s.c.unstash.size(); i++) {
                unstash(s.c.unstash[i])
            }
        }
        body()
        // the audit file, the result and the helper results (incl. -rule.json), for later agents and attestRelease
        stash(name: 'rg-slack-approval-audit', allowEmpty: true,
            includes: [s.c.auditFile, s.c.resultFile, HelperRunner.siblingPath(s.c.resultFile, '-*.json')].join(','))
        s.stashed = true
    }
}

/** Runs one slack-approval verb (secrets bound when slack is true); a failure fails the build unless lenient. */
Map helper(Map s, String verb, List args, boolean slack, boolean lenient = false) {
    Map c = s.c
    List creds = []
    if (slack) {
        creds.add(string(credentialsId: c.slackTokenCredentialsId, variable: 'SLACK_BOT_TOKEN'))
        if (verb == 'request') {
            creds.add(string(credentialsId: c.buttonSecretCredentialsId, variable: 'RG_BUTTON_SECRET'))
        }
    }
    Map r = HelperRunner.run(this, [step: 'slackApproval', helper: 'slack-approval', verb: verb, args: args, credentials: creds,
        resultFile: HelperRunner.siblingPath(c.resultFile, '-' + verb.tokenize(' ').join('-') + '.json'), allowFailure: true])
    if (r.exit_code != 0 && lenient) {
        echo("slackApproval: warning: ${verb} failed (${r.message}); the approval itself is unaffected")
    } else {
        HelperRunner.check(this, 'slackApproval', r)
    }
    return r
}

/** Returns the current time in milliseconds (one place, so tests can move the clock). */
@NonCPS
long nowMillis() {
    return System.currentTimeMillis()
}

/** Returns the first problem of the resolved config c as one actionable line, or null. */
@NonCPS
String problemWith(Map c) {
    if (!(c.channel ==~ /[A-Z0-9]{2,}/)) {
        return "slackApproval: channel must be a Slack channel id such as C0123ABCD, not a name; got '${c.channel}'"
    }
    if (!(c.requester ==~ /[UW][A-Z0-9]{2,}/)) {
        return "slackApproval: requester must be a Slack user id such as U0123ABCD; got '${c.requester}'"
    }
    if (!c.commit) {
        return "slackApproval: parameter 'commit' is required when env.GIT_COMMIT is not set (see vars/slackApproval.txt)"
    }
    if (!c.branch) {
        return "slackApproval: parameter 'branch' is required when env.BRANCH_NAME is not set (see vars/slackApproval.txt)"
    }
    if (!(c.inputId ==~ /[A-Za-z0-9][A-Za-z0-9_.-]{0,99}/)) {
        return "slackApproval: inputId must be letters, digits, '.', '_' or '-' (max 100); got '${c.inputId}'"
    }
    if (seconds(c.timeout) < 1 || seconds(c.timeout) > 720 * 3600) {
        return "slackApproval: timeout must be a duration like '24h', '90m' or '1h30m' (1s to 720h); got '${c.timeout}'"
    }
    if (c.escalateAfter != null && (seconds(c.escalateAfter) < 1 || seconds(c.escalateAfter) >= seconds(c.timeout))) {
        return "slackApproval: escalateAfter must be a duration like '2h', shorter than timeout (${c.timeout}); got '${c.escalateAfter}'"
    }
    if (c.escalationGroup != null && !(c.escalationGroup ==~ /S[A-Z0-9]{2,}/)) {
        return "slackApproval: escalationGroup must be a Slack user group id such as S0123ABCD; got '${c.escalationGroup}'"
    }
    if (c.unstash && !c.agentLabel) {
        return 'slackApproval: unstash applies to the node(agentLabel) blocks: set agentLabel too, or unstash before calling the step'
    }
    if (c.summaries.any { !(it instanceof CharSequence) || !it.toString().trim() }) {
        return "slackApproval: summaries must list result files, e.g. summaries: ['.release-gates/goBuildGate.json']"
    }
    return null
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

/** Returns the arguments of slack-approval request. */
@NonCPS
List requestArgs(Map c, String buildUrl) {
    List a = ['--channel', c.channel, '--service', c.service, '--environment', c.environment, '--version', c.version,
              '--commit', c.commit, '--branch', c.branch, '--requester', c.requester, '--build-url', buildUrl ?: '',
              '--input-id', c.inputId, '--token-ttl', c.timeout,
              '--message-out', HelperRunner.siblingPath(c.resultFile, '.message.json'), '--audit-file', c.auditFile]
    for (Object f : c.summaries) {
        a.addAll(['--summary', f.toString()])
    }
    return a
}

/** Returns the input step's parameters: exactly the ones the relay submits. */
List inputParameters() {
    List p = []
    List names = ['approver', 'approverName', 'eventId', 'comment', 'decision', 'traceId']
    for (int i = 0; i < names.size(); i++) {
        p.add(string(name: names[i], defaultValue: '', description: "set by the Slack relay (${names[i]})".toString()))
    }
    return p
}

/** Returns the input step's message. */
@NonCPS
String inputMessage(Map c, int have, int required) {
    return "Release ${c.service} ${c.version} to ${c.environment}: ${have} of ${required} approvals. Approve or reject in Slack; " +
        "the relay (${c.relayUser}) answers here.".toString()
}

/** Returns the input's answer as a plain Map of Strings (null when it is not a Map). */
@NonCPS
Map asMap(Object v) {
    if (!(v instanceof Map)) {
        return null
    }
    Map out = new LinkedHashMap()
    for (Map.Entry e : ((Map) v).entrySet()) {
        out.put(e.key.toString(), e.value == null ? '' : e.value.toString())
    }
    return out
}

/** Returns why answer does not count as a decision (duplicate, self-approval, wrong submitter, ...), or null when it counts. */
@NonCPS
String ignoredBecause(Map c, Map answer, List approvals, boolean allowSelf, String traceId) {
    if (answer == null) {
        return 'the input was answered without parameters (answer in Slack, not in Jenkins)'
    }
    if (answer.submitter && answer.submitter != c.relayUser) {
        return "submitted by ${answer.submitter}, not by the relay account ${c.relayUser}".toString()
    }
    if (!(answer.decision in ['approve', 'reject']) || !answer.approver) {
        return "no approver or an unknown decision '${answer.decision}'".toString()
    }
    if (answer.traceId && answer.traceId != traceId) {
        return "the button belongs to trace ${answer.traceId}, not ${traceId}".toString()
    }
    if (answer.decision == 'approve' && answer.approver == c.requester && !allowSelf) {
        return "self-approval by the requester ${answer.approverName} (${answer.approver}) is not allowed for ${c.environment}".toString()
    }
    if (answer.decision == 'approve' && approvals.any { it.approver == answer.approver }) {
        return "duplicate approval by ${answer.approverName} (${answer.approver})".toString()
    }
    return null
}

/** Reports whether e is the timeout step's expiry (and not a user's abort). */
@NonCPS
boolean isTimeout(FlowInterruptedException e) {
    return e.causes.any { it.getClass().name == 'org.jenkinsci.plugins.workflow.steps.TimeoutStepExecution$ExceededTimeout' }
}

/** Returns who aborted the input in Jenkins, as the interruption's causes say. */
@NonCPS
String abortedBy(FlowInterruptedException e) {
    for (Object cause : e.causes) {
        try {
            Object user = cause.hasProperty('user') ? cause.user : null
            if (user != null) {
                return user.toString()
            }
        } catch (Exception ignored) {
            // a cause without a user
        }
    }
    return 'Jenkins'
}

/** Returns the step's outcome as a plain serializable Map. */
@NonCPS
Map outcome(Map s, String decision, List approvals, int required) {
    Map c = s.c
    Map out = new LinkedHashMap()
    out.decision = decision
    out.approvers = approvals.collect { new LinkedHashMap(it) }
    out.approverNames = approvals.collect { (it.approverName ?: it.approver).toString() }
    out.required = required
    out.traceId = s.traceId
    out.service = c.service
    out.environment = c.environment
    out.version = c.version
    out.channel = s.channel
    out.ts = s.ts
    out.auditFile = c.auditFile
    return out
}
