import jenkins.model.CauseOfInterruption
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException
import org.jenkinsci.plugins.workflow.steps.TimeoutStepExecution
import org.junit.Assume
import org.junit.Test
import sandbox.SandboxRecorder
import sandbox.SandboxStatic
import sandbox.Signatures

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertTrue

/**
 * SandboxRecorderTest runs a deliberately bad step under the sandbox recorder (as a library class of its own, so its
 * findings stay out of the run's report) and checks that exactly the calls Jenkins' sandbox would refuse are reported,
 * with their lines, and that the sandbox-safe spellings next to them are not.
 */
class SandboxRecorderTest extends PipelineTestBase {
    static final String PROBE = '''\
def call(Map config = [:]) {
    Map ok = [a: 1, b: [2, 3]]
    String t = ' x '.trim() + config.size() + Math.max(1, 2) + ok.b.collect { it * 2 }.join(',')
    sh(label: 'probe', script: 'true')
    env.PROBE = t
    String seen = env.PROBE + currentBuild.result
    Map bad = new java.util.LinkedHashMap()
    List alsoBad = new ArrayList()
    Object parsed = new groovy.json.JsonSlurperClassic().parseText('{}')
    boolean has = config.hasProperty('x')
    String shown = config.inspect()
    try {
        timeout(time: 1) { echo 'waiting' }
    } catch (e) {
        seen += e.causes.size()
    }
    boolean hasKey = env.containsKey('PROBE')
    String home = System.getenv('HOME')
    return ok + [seen: seen]
}
'''

    @Test
    void itReportsEachCallTheSandboxWouldRefuseWithItsLineAndNothingElse() {
        Assume.assumeTrue('the sandbox recorder is off (RG_SANDBOX=off)', SandboxRecorder.installed)
        step('timeout') { Object[] a ->
            ((Closure) a[1]).call()
            throw new FlowInterruptedException('ABORTED', new TimeoutStepExecution.ExceededTimeout())
        }
        Class probe = new GroovyShell(this.class.classLoader).parse(PROBE, 'sandboxProbe.groovy').getClass()
        Script s = (Script) probe.newInstance()
        s.binding = binding
        Object out = null
        List<SandboxRecorder.Finding> found = SandboxRecorder.capture(['sandboxProbe'] as Set) {
            out = s.invokeMethod('call', [[k: 'v']] as Object[])
        }
        assertEquals([a: 1, b: [2, 3], seen: 'x124,6null1'], out)
        Map<String, String> got = [:]
        for (SandboxRecorder.Finding f : found) {
            got[f.signature] = (got[f.signature] ? got[f.signature] + ',' : '') + f.site.replaceAll(/.*:/, '') + (f.blacklisted ? ' blacklisted' : '')
        }
        Map<String, String> want = [
            'new java.util.LinkedHashMap'                                                              : '7',
            'new java.util.ArrayList'                                                                  : '8',
            'new groovy.json.JsonSlurperClassic'                                                       : '9',
            'method groovy.json.JsonSlurperClassic parseText java.lang.String'                         : '9',
            'staticMethod org.codehaus.groovy.runtime.DefaultGroovyMethods hasProperty java.lang.Object java.lang.String': '10',
            'staticMethod org.codehaus.groovy.runtime.DefaultGroovyMethods inspect java.lang.Object'   : '11',
            'method org.jenkinsci.plugins.workflow.steps.FlowInterruptedException getCauses'           : '15',
            'method org.jenkinsci.plugins.workflow.cps.EnvActionImpl containsKey java.lang.String'     : '17',
            'staticMethod java.lang.System getenv java.lang.String'                                    : '18 blacklisted',
        ]
        assertEquals(want.toString(), new TreeMap(want).toString(), new TreeMap(got).toString())
        assertTrue(found.every { it.site.startsWith('sandboxProbe.groovy:') })
        assertTrue('the probe is not in the run report', SandboxRecorder.findings().every { !it.site.contains('sandboxProbe') })
    }

    @Test
    void itFlagsAStepJenkinsDoesNotHave() {
        Assume.assumeTrue('the sandbox recorder is off (RG_SANDBOX=off)', SandboxRecorder.installed)
        step('noSuchStep') { Object[] a -> null }
        Class probe = new GroovyShell(this.class.classLoader).parse('def call() {\n  echo "x"\n  noSuchStep()\n}\n', 'sandboxProbe2.groovy').getClass()
        Script s = (Script) probe.newInstance()
        s.binding = binding
        List<SandboxRecorder.Finding> found = SandboxRecorder.capture(['sandboxProbe2'] as Set) { s.invokeMethod('call', new Object[0]) }
        assertEquals(['step noSuchStep at sandboxProbe2.groovy:3'], found.collect { "${it.signature} at ${it.site}".toString() })
    }

    @Test
    void itKnowsTheFlowInterruptedStubIsNotWhitelistedButItsCausesShortDescriptionIs() {
        Assume.assumeTrue('the sandbox recorder is off (RG_SANDBOX=off)', SandboxRecorder.installed)
        CauseOfInterruption c = new TimeoutStepExecution.ExceededTimeout()
        assertEquals([null, 'method jenkins.model.CauseOfInterruption getShortDescription'], SandboxRecorder.decideGet(c, 'shortDescription'))
        assertEquals([null, 'method java.util.Collection add java.lang.Object'], SandboxRecorder.decideCall(new ArrayList(), 'add', ['x'] as Object[]))
        assertEquals('new java.util.ArrayList', SandboxRecorder.decideNew(ArrayList, new Object[0])[0])
        assertEquals([null, 'new java.util.ArrayList java.util.Collection'], SandboxRecorder.decideNew(ArrayList, [[1]] as Object[]))
    }

    @Test
    void itScansTheLinesNoTestRunsForCallsNoSignatureCouldPermit() {
        File repo = File.createTempDir()
        try {
            new File(repo, 'vars').mkdirs()
            new File(repo, 'src/probe').mkdirs()
            new File(repo, 'vars/probeStep.groovy').text = """\
def call(Map c = [:]) {
    if (c.never) {
        echo c.inspect()
        Map m = new java.util.LinkedHashMap()
        System.exit(1)
        probe.Util.help(m)
        return new java.util.TreeMap(m) + [n: Math.max(1, 2), s: 'x'.trim(), h: c.hasProperty('x')]
    }
    return defaults()
}

Map defaults() {
    return [:]
}
"""
            new File(repo, 'src/probe/Util.groovy').text = """\
package probe

class Util implements Serializable {
    static Map help(Map m) {
        return new Util().wrap(m)
    }

    Map wrap(Map m) {
        return m + [bad: m.getMetaClass()]
    }
}
"""
            Signatures sigs = SandboxRecorder.signatures ?: new Signatures(Signatures.defaultDir(REPO))
            List<String> got = SandboxStatic.scan(repo, sigs, this.class.classLoader).collect { "${it[0]} at ${it[1]}".toString() }.sort()
            assertEquals([
                'method * getMetaClass at src/probe/Util.groovy:9',
                'method * hasProperty at vars/probeStep.groovy:7',
                'method * inspect at vars/probeStep.groovy:3',
                'new java.util.LinkedHashMap at vars/probeStep.groovy:4',
                'staticMethod java.lang.System exit at vars/probeStep.groovy:5',
            ], got)
        } finally {
            repo.deleteDir()
        }
    }

    static final String IDIOMS = '''\
def call(Map config = [:]) {
    Map m = [a: 1, b: 'two']
    List l = ['x', 'y']
    l << 'z'
    l.add('w')
    m.c = 3
    m['d'] = 4
    String s = "${m.a}-${l[0]}".toString() + m['b'] + l.size() + m.size()
    for (String x in l) {
        s += x.toUpperCase()
    }
    for (Map.Entry e : m.entrySet()) {
        s += e.key
    }
    m.each { k, v -> s += k }
    s += l.collect { it * 2 }.join(',') + l.findAll { it != 'x' }.size() + l.any { it == 'y' } + l.every { it }
    s += l*.length().sum() + l.first() + l.last() + l.sort().unique().reverse()
    s += '' + ('a,b'.split(',') as List).size() + 'a b'.tokenize(' ').size() + (s ==~ /.*/) + (s =~ /a/ ? 1 : 0)
    s += Integer.parseInt('7') + ('8' as int) + Math.max(1, 2) + String.valueOf(9) + (m.containsKey('a') ? 'k' : '')
    s += config?.nothing?.deeper ?: 'none'
    s += new StringBuilder().append('sb').append(1).toString() + 'x'.trim().startsWith('x') + 'abc'.substring(1) + 'a'.replace('a', 'b')
    s += m.keySet().toList().size() + m.values().size() + m.findAll { k, v -> v == 1 }.size() + (m + [e: 5]).size()
    switch (s.length()) {
        case 0: s += 'empty'; break
        default: s += 'full'
    }
    if (!l.isEmpty() && m instanceof Map && s.contains('x') && s.endsWith('l')) { s += 'yes' }
    int n = 0
    for (int i = 0; i < 3; i++) { n += i }
    s += n
    s += groovy.json.JsonOutput.toJson([k: 'v'])
    return [s: s]
}
'''

    @Test
    void itAllowsTheUsualSandboxSafeIdioms() {
        Assume.assumeTrue('the sandbox recorder is off (RG_SANDBOX=off)', SandboxRecorder.installed)
        Class probe = new GroovyShell(this.class.classLoader).parse(IDIOMS, 'sandboxIdioms.groovy').getClass()
        Script s = (Script) probe.newInstance()
        s.binding = binding
        Object out = null
        List<SandboxRecorder.Finding> found = SandboxRecorder.capture(['sandboxIdioms'] as Set) { out = s.invokeMethod('call', [[:]] as Object[]) }
        assertTrue(out.toString(), out.s.toString().endsWith('3{"k":"v"}'))
        assertEquals([], found*.toString())
        for (String seen : ['staticMethod org.codehaus.groovy.runtime.DefaultGroovyMethods leftShift java.util.List java.lang.Object',
                            'method java.util.Collection add java.lang.Object', 'method java.lang.String toUpperCase',
                            'staticMethod org.codehaus.groovy.runtime.DefaultGroovyMethods each java.util.Map groovy.lang.Closure',
                            'staticMethod java.lang.Integer parseInt java.lang.String', 'new java.lang.StringBuilder',
                            'staticMethod groovy.json.JsonOutput toJson java.util.Map', 'method java.util.Map put java.lang.Object java.lang.Object']) {
            assertTrue("${seen} was not checked; checked: ${new TreeSet(SandboxRecorder.lastCaptureAllowed).join('\n')}", SandboxRecorder.lastCaptureAllowed.contains(seen))
        }
    }
}
