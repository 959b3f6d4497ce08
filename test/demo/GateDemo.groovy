// Runs the real goBuildGate step (vars/goBuildGate.groovy) through the test harness with real sh and the built helpers.
// Usage (from the repo root): groovy -cp src:test/groovy:test/groovy/stubs test/demo/GateDemo.groovy SERVICE_BINARY SPEC
// SPEC is relative to the example service (e.g. docs/v2-compatible/swagger.json). Exit 0 when the gate passed,
// 1 when it failed (the step's error is printed), 2 on a demo setup problem.
import groovy.json.JsonSlurperClassic

class DemoPipeline extends PipelineTestBase {}

if (args.length != 2) {
    System.err.println('usage: GateDemo.groovy SERVICE_BINARY SPEC')
    System.exit(2)
}
File fixture = new File(PipelineTestBase.REPO, 'test/fixtures/example-service')
File binary = new File(args[0])
String spec = args[1]

DemoPipeline p = new DemoPipeline()
p.setUpPipeline()
p.useRealHelpers()
int code = 0
try {
    File svc = new File(p.workspace, 'svc')
    for (String rel : ['go.mod', 'go.sum', 'main.go', 'docs/v1/swagger.json', spec]) {
        File to = new File(svc, rel)
        to.parentFile.mkdirs()
        to.bytes = new File(fixture, rel).bytes
    }
    File bin = new File(svc, 'orders')
    bin.bytes = binary.bytes
    bin.setExecutable(true)
    int port = new ServerSocket(0, 1, InetAddress.getByName('127.0.0.1')).withCloseable { it.localPort }
    Map config = [dir: 'svc', spec: spec, baseSpec: 'docs/v1/swagger.json', smokeCommand: './orders',
                  smokeEnv: [PORT: port], healthUrl: "http://127.0.0.1:${port}/healthz".toString(),
                  deadline: '30s', expectBody: [status: 'ok']]
    println "goBuildGate(dir: 'svc', spec: '${spec}', baseSpec: 'docs/v1/swagger.json', smokeCommand: './orders', healthUrl: '${config.healthUrl}')"
    try {
        p.runStep('goBuildGate', config)
        println 'step result: passed'
    } catch (PipelineError e) {
        println "step error: ${e.message}"
        code = 1
    }
    for (List a : p.callsTo('echo')) {
        println "  console | ${a[0]}"
    }
    File resultFile = p.file('.release-gates/goBuildGate.json')
    if (resultFile.exists()) {
        Map r = new JsonSlurperClassic().parseText(resultFile.text)
        for (Map item : r.items) {
            println "  check ${item.name}: ${item.status}${item.message ? ' - ' + item.message : ''}"
            for (Map sub : (item.details?.items ?: [])) {
                if (sub.kind == 'api-change') {
                    println "      ${sub.status == 'rejected' ? 'BREAKING' : 'ok      '} [${sub.details.id}] ${sub.name}: ${sub.message}"
                }
            }
        }
    }
} finally {
    p.tearDownPipeline()
}
System.exit(code)
