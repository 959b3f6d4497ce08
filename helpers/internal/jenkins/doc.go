// Package jenkins answers a waiting pipeline input step over Jenkins' REST API and reads the build it belongs to.
//
// Protocol (pipeline-input-step plugin, InputAction/InputStepExecution; pipeline-stage-view wfapi), Id = input id
// with its first letter upper-cased, because InputStep capitalises ids:
//
//	POST {build}/input/{Id}/submit        form: json={"parameter":[{"name":..,"value":..}]}, proceed=<ok label>
//	POST {build}/input/{Id}/proceedEmpty  proceed with no parameters
//	POST {build}/input/{Id}/abort         abort the build
//	GET  {build}/wfapi/pendingInputActions [{"id":..,"proceedText":..,"message":..,"inputs":[..],..}]
//	GET  {build}/api/json                 building, CauseAction causes, changeSets
//	GET  {jenkins}/crumbIssuer/api/json   {"crumbRequestField":"Jenkins-Crumb","crumb":"..."}
//
// Authentication is API-token basic auth. Jenkins does not ask for a crumb with API-token auth, but when it
// answers 403 "No valid crumb" the client fetches one and retries once. A 404 on an input POST means the input
// is not pending: not reached yet, already answered, or the build finished. The test double is
// internal/testing/jenkinsfake.
package jenkins
