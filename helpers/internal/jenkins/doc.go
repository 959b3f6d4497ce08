// Package jenkins answers a waiting pipeline input step over Jenkins' REST API, and serves an in-process stand-in.
//
// Protocol (pipeline-input-step plugin, InputAction/InputStepExecution), Id = input id with its first letter
// upper-cased, because InputStep capitalises ids:
//
//	POST {build}/input/{Id}/submit        form: json={"parameter":[{"name":..,"value":..}]}, proceed=<ok label>
//	POST {build}/input/{Id}/proceedEmpty  proceed with no parameters
//	POST {build}/input/{Id}/abort         abort the build
//	GET  {jenkins}/crumbIssuer/api/json   {"crumbRequestField":"Jenkins-Crumb","crumb":"..."}
//
// Authentication is API-token basic auth (JENKINS_USER, JENKINS_API_TOKEN). Jenkins does not ask for a crumb
// with API-token auth, but when it answers 403 "No valid crumb" the client fetches one and retries once.
// A 404 means the input is gone: the build finished or the input was already decided.
package jenkins
