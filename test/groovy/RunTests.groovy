// Runs every test/groovy/**/*Test.groovy (or those named in args) with JUnitCore and exits non-zero on any failure.
import org.junit.runner.Description
import org.junit.runner.JUnitCore
import org.junit.runner.Request
import org.junit.runner.Result
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener

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
}

JUnitCore core = new JUnitCore()
core.addListener(new Lines())
Result r = core.run(classes as Class[])
int failed = r.failureCount + broken
int passed = r.runCount - r.failureCount
println "Groovy: ${passed} passed, ${failed} failed"
System.exit(failed == 0 && (passed > 0 || only) ? 0 : 1)
