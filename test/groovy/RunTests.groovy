// Runs every test/groovy/**/*Test.groovy (or those named in args) with JUnitCore and exits non-zero on any failure.
// With RG_SANDBOX=check (the default) it also records every call vars/ and src/ make and fails when one needs script
// approval in Jenkins' sandbox (test/groovy/sandbox/SandboxRecorder.groovy); RG_SANDBOX=report only lists them, reject
// also throws RejectedAccessException at each (as Jenkins does), off skips.
import org.junit.runner.Description
import org.junit.runner.JUnitCore
import org.junit.runner.Request
import org.junit.runner.Result
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener

import sandbox.SandboxRecorder
import sandbox.SandboxStatic
import sandbox.Signatures

String sandboxMode = SandboxRecorder.mode()
if (sandboxMode != 'off') {
    try {
        SandboxRecorder.install(new File('.'), new Signatures(Signatures.defaultDir(new File('.'))))
    } catch (FileNotFoundException e) {
        println "FAIL sandbox check: ${e.message}"
        System.exit(2)
    }
}

def loader = new GroovyClassLoader(this.class.classLoader)
loader.addClasspath('src')
loader.addClasspath('test/groovy')
loader.addClasspath('test/groovy/stubs')

List<String> only = args as List
// RG_GROOVY_MOCK_ONLY=1 (make check) leaves out the *RealTest classes: they run the built helpers and peers.
boolean mockOnly = System.getenv('RG_GROOVY_MOCK_ONLY') == '1'
List<Class> classes = []
int broken = 0
List<File> files = []
new File('test/groovy').eachFileRecurse { f -> if (f.name.endsWith('Test.groovy')) files << f }
files.sort { it.path }.each { f ->
    String name = f.name - '.groovy'
    if (only && !only.any { name.contains(it) } || mockOnly && name.endsWith('RealTest')) {
        return
    }
    try {
        classes << loader.parseClass(f)
    } catch (Throwable e) {
        broken++
        println "FAIL ${name}: does not compile: ${e.message}"
    }
}

class Lines extends RunListener {
    /** Tests whose assumption failed (Assume): JUnit counts them as run, this runner as skipped. */
    int assumptionFailures = 0

    void testStarted(Description d) { SandboxRecorder.currentTest = "${d.className}.${d.methodName}".toString() }
    void testFinished(Description d) { }
    void testFailure(Failure f) {
        println "FAIL ${f.description.className}.${f.description.methodName}: ${f.message}"
        def t = f.exception
        while (t?.cause != null && t.cause != t) {
            t = t.cause
        }
        println(f.trace.readLines().findAll { it.contains('.groovy:') || it.startsWith('\tat') && it.contains('Test') }.take(6).join('\n'))
    }
    void testIgnored(Description d) { println "SKIP ${d.className}.${d.methodName}" }
    void testAssumptionFailure(Failure f) {
        assumptionFailures++
        println "SKIP ${f.description.className}.${f.description.methodName}: ${f.message}"
    }
}

JUnitCore core = new JUnitCore()
Lines lines = new Lines()
core.addListener(lines)
Result r = core.run(classes as Class[])
int failed = r.failureCount + broken
int skipped = lines.assumptionFailures + r.ignoreCount
int passed = r.runCount - r.failureCount - lines.assumptionFailures
println "Groovy: ${passed} passed, ${failed} failed, ${skipped} skipped"
if (SandboxRecorder.installed) {
    SandboxRecorder.addStatic(SandboxStatic.scan(new File('.'), SandboxRecorder.signatures, loader))
}
int needApproval = SandboxRecorder.installed ? SandboxRecorder.report(System.out) : 0
if (needApproval > 0 && sandboxMode != 'report') {
    println "FAIL sandbox check: ${needApproval} signatures would need script approval when the library is loaded at folder level " +
        '(see the SANDBOX lines; RG_SANDBOX=report lists them without failing)'
}
boolean sandboxOk = needApproval == 0 || sandboxMode == 'report'
System.exit(failed == 0 && (passed > 0 || only) && sandboxOk ? 0 : 1)
