import io.releasegates.StepRunner
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException

/**
 * Asks the approval relay for an approval, waits in one input outside any node (no executor held), has the helper verify
 * the relay-signed decision and returns it; vars/slackApproval.txt (generated from Go) documents every key.
 */
Map call(Map config = [:]) {
    StepRunner.validate(this, 'slackApproval', config) // before node(agentLabel) and unstash use the Map
    Map req = onAgent(config) { StepRunner.runVerb(this, 'slackApproval', 'request', config, null) }
    List fields = []
    for (int i = 0; i < req.inputParams.size(); i++) {
        fields.add(string(name: req.inputParams[i], defaultValue: '', description: "set by the approval relay (${req.inputParams[i]})".toString()))
    }
    Object answer = null
    try {
        // The relay expires the request at its deadline and answers decision=expired; this timeout is only the backstop.
        timeout(time: req.backstopSeconds as long, unit: 'SECONDS') {
            answer = input(id: req.inputId, message: req.inputMessage, ok: 'Proceed', submitter: req.submitter, parameters: fields)
        }
    } catch (FlowInterruptedException e) {
        error("slackApproval: the wait for the relay's answer ended without one (aborted or past ${req.timeout} + 5m); request ${req.requestId}")
    }
    return onAgent(config) {
        Map out = StepRunner.runVerb(this, 'slackApproval', 'verify', config, [answer: answer, request: req])
        if (config.agentLabel) {
            // the result, the rule and the decision record, for attestRelease on another agent
            stash(name: 'rg-slack-approval', includes: out.decisionRecord.replace('-decision.json', '*.json'))
        }
        return out
    }
}

/** Returns what body returns, run on node(agentLabel) after unstashing when one is set, else here. */
Map onAgent(Map config, Closure body) {
    if (!config.agentLabel) {
        return body()
    }
    Map out = null
    node(config.agentLabel) {
        for (int i = 0; i < (config.unstash ?: []).size(); i++) {
            unstash(config.unstash[i])
        }
        out = body()
    }
    return out
}
