// Package jenkinsfake is an in-process Jenkins, for tests only, that behaves as the input step really does.
//
// Each rule and its source:
//   - POST {build}/input/{Id}/submit, /proceedEmpty and /abort answer 404 until the pipeline reaches that input,
//     and 404 again once it is answered: InputAction.getDynamic binds the URL segment through getExecution(id),
//     which only knows executions added by InputStepExecution.start and removed by postSettlement
//     (jenkinsci/pipeline-input-step-plugin, InputAction.java and InputStepExecution.java). Stapler answers a
//     null binding with 404.
//   - The id is capitalised: InputStep.setId stores capitalize(id), and getExecution compares with equals, so a
//     URL with the id as the Jenkinsfile wrote it ("approve") is a 404 when the step saw "Approve".
//   - Without a "proceed" form field, doSubmit aborts the build; doProceed parses json={"parameter":[...]} and
//     fails with IllegalArgumentException "No such parameter definition: X" (HTTP 500) for an undeclared name.
//   - Only the listed submitter may answer: preSubmissionCheck throws Failure "You need to be X to submit this"
//     (canSettle compares the authenticated name with the comma-separated submitter list); the fake answers 403.
//   - {build}/wfapi/pendingInputActions lists pending inputs (jenkinsci/pipeline-stage-view-plugin,
//     rest-api PendingInputActionsExt.create: id, proceedText, message, inputs, proceedUrl, abortUrl,
//     redirectApprovalUrl).
//   - POSTs need basic auth; with a password they also need the crumb from GET /crumbIssuer/api/json
//     (hudson.security.csrf.CrumbFilter; API-token requests are exempt since Jenkins 2.96), else 403
//     "No valid crumb was included in the request". Bad credentials answer 401.
//   - GET {build}/api/json reports building and the CauseAction causes (hudson.model.Cause$UserIdCause with
//     userId, or an SCM cause with the change set's commit authors).
//
// Arm simulates the pipeline reaching an input after a configurable delay (ReArmDelay), as a real pipeline needs
// time (node, stash, audit) between two inputs.
package jenkinsfake
