package io.releasegates

import com.cloudbees.groovy.cps.NonCPS

/**
 * StepRunner runs one pipeline step on its Go helper (the library's one runner, like Piper's piperExecuteBin):
 * it checks the step's Map against resources/steps/<step>.json (generated from the Go Params struct) before any sh,
 * writes .release-gates/<step>.params.json ({step, params, context, secrets}, exact JSON), binds the schema's credentials with
 * withCredentials, runs one labelled sh '<helper> run --params P --result-file R', then archives and publishes what
 * the result lists, echoes its summary, maps the exit code to error "<step>: ..." and returns the result's "returns".
 */
class StepRunner implements Serializable {
    private static final long serialVersionUID = 1L

    /**
     * Runs step with the Jenkinsfile's Map config and returns the Map the helper returned; body, when given, is called
     * with that Map after the helper passed (e.g. verifyRelease's deploy closure).
     */
    static Map run(Object script, String step, Map config, Closure body = null) {
        Map returns = runVerb(script, step, 'run', config, null)
        if (body != null) {
            body.call(returns)
        }
        return returns
    }

    /**
     * Runs one helper verb of step on the same contract, for a step that must do Jenkins-side work between helper
     * calls (slackApproval: 'request' in node, input outside node, then 'verify' in node). The result and params files
     * are <resultFile base>-<verb>.json and .params.json (plain resultFile for 'run'); input, when given, goes into the
     * params document as "input" (e.g. what the input step returned). Returns the helper's returns map.
     */
    static Map runVerb(Object script, String step, String verb, Map config, Map input) {
        Map c = config == null ? [:] : config
        Map schema = validate(script, step, c)
        Map params = (Map) StepConfig.plain(c)
        String resultFile = resultFileOf(schema, params, step)
        if (verb != 'run') {
            resultFile = HelperRunner.siblingPath(resultFile, "-${verb}.json".toString())
        }
        String paramsFile = HelperRunner.siblingPath(resultFile, '.params.json')
        String traceId = HelperRunner.traceId(script)
        String helper = schema.helper.toString()

        List rows = credentialRows(schema, params, verb)
        List bindings = []
        for (int i = 0; i < rows.size(); i++) {
            bindings.add(binding(script, (Map) rows[i]))
        }
        Map doc = [step: step, params: params, context: contextOf(script, traceId), secrets: secretsOf(rows)]
        if (input != null) {
            doc.input = StepConfig.plain(input)
        }

        String path = HelperRunner.locate(script, step, helper)
        // writeFile + JsonOutput, not writeJSON: json-lib (behind writeJSON) turns a String that looks like JSON, such as
        // '[debug]' or 'null', into an array or null (AbstractJSON._processValue, JSONUtils.mayBeJSON); the Map must stay verbatim.
        script.writeFile(file: paramsFile, text: HelperRunner.toJson(doc), encoding: 'UTF-8')
        String command = HelperRunner.commandLine(path, verb, [], paramsFile, resultFile)
        String label = "${step}: ${verb}".toString()
        int status = 0
        script.withEnv(["RELEASE_TRACE_ID=${traceId}".toString()]) {
            if (bindings) {
                script.withCredentials(bindings) {
                    status = script.sh(label: label, script: command, returnStatus: true) as int
                }
            } else {
                status = script.sh(label: label, script: command, returnStatus: true) as int
            }
        }

        Map result = HelperRunner.readResult(script, resultFile)
        if (result == null) {
            script.archiveArtifacts(artifacts: paramsFile, allowEmptyArchive: true)
            script.error(HelperRunner.failureMessage(step, helper, status, null))
        }
        result.exit_code = status
        script.archiveArtifacts(artifacts: archiveList(resultFile, paramsFile, result).join(','), allowEmptyArchive: true)
        List reports = workspaceFiles((List) (result.junit ?: []))
        for (int i = 0; i < reports.size(); i++) {
            script.junit(testResults: reports[i], allowEmptyResults: true)
        }
        List lines = (List) (result.summary ?: [])
        for (int i = 0; i < lines.size(); i++) {
            script.echo(lines[i].toString())
        }
        HelperRunner.check(script, step, result)
        return result.returns instanceof Map ? (Map) result.returns : result
    }

    /**
     * Checks config against resources/steps/<step>.json (unknown keys, types, element types, required keys) and fails the
     * build with the first problem; returns the schema. A var that uses its Map before the runner (slackApproval's node
     * and unstash) calls this first.
     */
    static Map validate(Object script, String step, Map config) {
        Map schema = schemaOf(script, step)
        String problem = StepConfig.problemWithSchema(step, schema, config == null ? [:] : config)
        if (problem != null) {
            script.error(problem)
        }
        return schema
    }

    /** Reads resources/steps/<step>.json through libraryResource, or fails naming the step. */
    static Map schemaOf(Object script, String step) {
        String text = null
        try {
            text = script.libraryResource("steps/${step}.json".toString())
        } catch (hudson.AbortException e) { // libraryResource's "No such library resource"; aborts and sandbox rejections pass
            script.error("${step}: the library has no resources/steps/${step}.json (${e.message}): regenerate it with make generate")
        }
        Object schema = script.readJSON(text: text, returnPojo: true)
        if (!(schema instanceof Map) || !(schema.params instanceof List) || !schema.helper) {
            script.error("${step}: resources/steps/${step}.json is not a step schema: regenerate it with make generate")
        }
        return (Map) schema
    }

    /** Returns the result file: the Map's resultFile, else the schema's default, else .release-gates/<step>.json. */
    @NonCPS
    static String resultFileOf(Map schema, Map params, String step) {
        if (params.resultFile) {
            return params.resultFile.toString()
        }
        for (Object f : (List) schema.params) {
            if (f.name == 'resultFile' && f['default']) {
                return f['default'].toString()
            }
        }
        return ".release-gates/${step}.json".toString()
    }

    /**
     * Returns the schema's credential rows whose parameter holds a credentials id (the Map's, else the schema's default),
     * for verb: a row naming another verb is left out (slackApproval binds its relay credential for request only).
     */
    @NonCPS
    static List credentialRows(Map schema, Map params, String verb = 'run') {
        List out = []
        for (Object row : (List) (schema.credentials ?: [])) {
            if (row.verb && row.verb != verb) {
                continue
            }
            String name = row.param.toString()
            Object id = params[name] != null ? params[name] : defaultOf(schema, name) // null means the default, as in Go
            if (id != null && id.toString().trim()) {
                Map r = [:]
                r.putAll((Map) row)
                r.put('id', id.toString())
                out.add(r)
            }
        }
        return out
    }

    /** Returns the schema's default of parameter name, or null. */
    @NonCPS
    static Object defaultOf(Map schema, String name) {
        for (Object f : (List) schema.params) {
            if (f.name == name) {
                return f['default']
            }
        }
        return null
    }

    /** Returns the withCredentials binding of one credential row (file, string or usernamePassword). */
    static Object binding(Object script, Map row) {
        switch (row.kind) {
            case 'file':
                return script.file(credentialsId: row.id, variable: row.variable)
            case 'string':
                return script.string(credentialsId: row.id, variable: row.variable)
            case 'usernamePassword':
                return script.usernamePassword(credentialsId: row.id, usernameVariable: row.usernameVariable,
                    passwordVariable: row.passwordVariable)
            default:
                script.error("unsupported credential kind '${row.kind}' for ${row.param} in the step schema")
                return null
        }
    }

    /** Returns the params document's secrets: role -> the env var name the secret is bound to (never the value). */
    @NonCPS
    static Map secretsOf(List rows) {
        Map out = [:]
        for (Object r : rows) {
            if (r.kind == 'usernamePassword') {
                out.put(r.role + 'Username', r.usernameVariable)
                out.put(r.role + 'Password', r.passwordVariable)
            } else {
                out.put(r.role.toString(), r.variable)
            }
        }
        return out
    }

    /** Returns the build context of the params document, from the pipeline's env. */
    static Map contextOf(Object script, String traceId) {
        Object e = script.env
        return [buildUrl   : str(e.BUILD_URL), jobName: str(e.JOB_NAME), jobUrl: str(e.JOB_URL), buildNumber: str(e.BUILD_NUMBER),
                gitUrl     : str(e.GIT_URL), gitCommit: str(e.GIT_COMMIT), branch: str(e.BRANCH_NAME), traceId: traceId,
                workspace  : str(e.WORKSPACE)]
    }

    @NonCPS
    private static String str(Object v) {
        return v == null ? '' : v.toString()
    }

    /** Returns what to archive: the result and params files, then what the helper listed (workspace-relative only). */
    @NonCPS
    static List archiveList(String resultFile, String paramsFile, Map result) {
        List out = [resultFile, paramsFile]
        out.addAll(workspaceFiles((List) (result.archive ?: [])))
        List unique = []
        for (Object p : out) {
            if (!unique.contains(p)) {
                unique.add(p)
            }
        }
        return unique
    }

    /** Returns the paths of list that archiveArtifacts and junit can take: relative, inside the workspace, no commas. */
    @NonCPS
    static List workspaceFiles(List list) {
        List out = []
        for (Object p : list) {
            String s = p == null ? '' : p.toString()
            if (s && !s.startsWith('/') && !s.contains(',') && !s.contains('..')) {
                out.add(s)
            }
        }
        return out
    }
}
