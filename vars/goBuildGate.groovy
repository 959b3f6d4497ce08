import com.cloudbees.groovy.cps.NonCPS
import io.releasegates.HelperRunner
import io.releasegates.StepConfig

/** Returns goBuildGate's parameters and defaults; vars/goBuildGate.txt documents every key. */
Map defaults() {
    return [
        dir         : '.',                               // Go module root, relative to the workspace
        checks      : ['modverify', 'apidiff', 'smoke'], // checks to run
        spec        : 'docs/swagger.json',               // head spec (swag's Swagger 2.0), relative to dir
        baseSpec    : null,                              // file of the last released spec
        baseRef     : null,                              // git ref of the last release; with basePath
        basePath    : null,                              // spec path inside baseRef, relative to dir; default: spec
        tagPattern  : 'v*',                              // base = newest matching tag when baseSpec and baseRef are null
        failOn      : 'ERR',                             // lowest change level that fails: ERR, WARN or INFO
        allowList   : null,                              // YAML/JSON file of accepted changes, each with a reason
        smokeCommand: null,                              // service binary to start; required when checks has 'smoke'
        smokeArgs   : [],                                // its arguments
        smokeEnv    : [:],                               // its extra environment (no secrets: the params file is archived)
        smokeWorkdir: null,                              // its working directory; default: dir
        healthUrl   : 'http://127.0.0.1:8080/healthz',   // polled until 2xx
        tryTimeout  : '3s',                              // timeout of one poll
        deadline    : '60s',                             // give up polling after this
        expectBody  : null,                              // Map that the health JSON body must contain
        junit       : true,                              // publish the JUnit XML with the junit step
        resultFile  : '.release-gates/goBuildGate.json', // result JSON, relative to the workspace
    ]
}

/** Runs go-build-gate's checks on the Go module in config.dir; returns the result map or fails with error "goBuildGate: ...". */
Map call(Map config = [:]) {
    Map c = StepConfig.resolve(this, 'goBuildGate', defaults(), config, [],
        [baseSpec: String, baseRef: String, basePath: String, allowList: String, smokeCommand: String,
         smokeWorkdir: String, expectBody: Map])
    String problem = problemWith(c)
    if (problem != null) {
        error(problem)
    }
    String junitFile = HelperRunner.siblingPath(c.resultFile, '.junit.xml')
    Map result = HelperRunner.run(this, [step: 'goBuildGate', helper: 'go-build-gate', verb: 'run',
        args: ['--junit', junitFile], params: paramsOf(c), resultFile: c.resultFile, allowFailure: true])
    if (c.junit) {
        junit(testResults: junitFile, allowEmptyResults: true)
    }
    archiveArtifacts(artifacts: [c.resultFile, HelperRunner.siblingPath(c.resultFile, '.params.json'), junitFile].join(','),
        allowEmptyArchive: true)
    List lines = summaryLines(result)
    for (int i = 0; i < lines.size(); i++) {
        echo(lines[i])
    }
    HelperRunner.check(this, 'goBuildGate', result)
    return result
}

/** Returns the first cross-parameter problem of the resolved config c, or null. */
@NonCPS
String problemWith(Map c) {
    List known = ['modverify', 'apidiff', 'smoke']
    List bad = c.checks.findAll { !known.contains(it) }
    if (!c.checks || bad) {
        return "goBuildGate: checks must be a non-empty subset of ${known.join(', ')}; got ${c.checks.inspect()}"
    }
    if (!(c.failOn in ['ERR', 'WARN', 'INFO'])) {
        return "goBuildGate: failOn must be ERR, WARN or INFO; got '${c.failOn}'"
    }
    if (c.baseSpec && (c.baseRef || c.basePath)) {
        return 'goBuildGate: set baseSpec (a file) or baseRef/basePath (git), not both'
    }
    if ('smoke' in c.checks && !c.smokeCommand?.trim()) {
        return "goBuildGate: parameter 'smokeCommand' is required when checks include 'smoke' " +
            "(the built service binary, e.g. smokeCommand: './bin/orders'), or drop 'smoke' from checks"
    }
    return null
}

/** Returns the params JSON document go-build-gate run reads (schema shared with helpers/internal/gate). */
@NonCPS
Map paramsOf(Map c) {
    Map env = [:]
    c.smokeEnv.each { k, v -> env[k.toString()] = v == null ? '' : v.toString() }
    return [
        dir    : c.dir,
        checks : c.checks.collect { it.toString() },
        apidiff: [spec: c.spec, baseSpec: c.baseSpec ?: '', baseRef: c.baseRef ?: '', basePath: c.basePath ?: '',
                  tagPattern: c.tagPattern, failOn: c.failOn, allowList: c.allowList ?: ''],
        smoke  : [command: c.smokeCommand ?: '', args: c.smokeArgs.collect { it.toString() }, env: env,
                  workdir: c.smokeWorkdir ?: '', url: c.healthUrl, tryTimeout: c.tryTimeout, deadline: c.deadline,
                  expectBody: c.expectBody],
    ]
}

/** Returns the console summary: the outcome, then one line per check. */
@NonCPS
List summaryLines(Map result) {
    List lines = ["goBuildGate: ${result.status ?: 'unknown'} (trace ${result.trace_id ?: '-'})".toString()]
    for (Object it : (result.items ?: [])) {
        String first = it.message ? it.message.toString().readLines()[0] : ''
        String msg = first ? ': ' + (first.length() > 200 ? first.substring(0, 200) + '...' : first) : ''
        lines.add("goBuildGate:   ${it.name} ${it.status}${msg}".toString())
    }
    return lines
}
