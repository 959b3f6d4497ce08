import org.codehaus.groovy.ast.ClassNode
import org.codehaus.groovy.ast.CodeVisitorSupport
import org.codehaus.groovy.ast.MethodNode
import org.codehaus.groovy.ast.expr.ClosureExpression
import org.codehaus.groovy.ast.expr.Expression
import org.codehaus.groovy.ast.expr.MethodCallExpression
import org.codehaus.groovy.ast.expr.TupleExpression
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.Phases
import org.junit.Test

import java.util.regex.Matcher

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertTrue

/**
 * Holds every vars/<step>.groovy to the library's conventions (like Piper's CommonStepsTest): a help page,
 * call(Map), defaults() documented key by key with the same default, unknown keys rejected before any sh.
 */
class StepsMetaTest extends PipelineTestBase {
    /** A parameter line of a vars/<step>.txt: "  name (Type, optional, default value): description". */
    static final String PARAM_LINE = /(?m)^  (\w+) \((String|List|Map|Boolean|Number|Integer), ([^,()]+), default (.*?)\): \S.*$/

    static List<String> steps() {
        return new File(REPO, 'vars').listFiles().findAll { it.name.endsWith('.groovy') }.collect { it.name - '.groovy' }.sort()
    }

    static Map<String, List> documented(String step) {
        Map<String, List> out = [:]
        Matcher m = new File(REPO, "vars/${step}.txt").text =~ PARAM_LINE
        while (m.find()) {
            out[m.group(1)] = [m.group(2), m.group(3), m.group(4)]
        }
        return out
    }

    /** Returns resources/steps/<step>.json parsed, or null for a step still declaring defaults() in Groovy. */
    static Map schemaOf(String step) {
        File f = new File(REPO, "resources/steps/${step}.json")
        return f.isFile() ? (Map) new groovy.json.JsonSlurperClassic().parseText(f.text) : null
    }

    static final Map GROOVY_TYPES = [string: 'String', boolean: 'Boolean', integer: 'Integer', list: 'List', map: 'Map']

    /** Returns the step's parameters and defaults: from its generated schema, else from defaults(). */
    Map defaultsOf(String step) {
        Map schema = schemaOf(step)
        if (schema == null) {
            return loadStep(step).invokeMethod('defaults', null)
        }
        return schema.params.collectEntries { [(it.name): it['default']] }
    }

    static String typeName(Object v) {
        return v instanceof CharSequence ? 'String' : v instanceof List ? 'List' : v instanceof Map ? 'Map' :
            v instanceof Boolean ? 'Boolean' : v instanceof Number ? 'Number' : v.getClass().simpleName
    }

    /** Runs check for every step and fails once, listing every problem found. */
    void eachStep(Closure<List<String>> check) {
        List<String> problems = []
        for (String s : steps()) {
            try {
                problems.addAll(check.call(s))
            } catch (Exception e) {
                problems.add("vars/${s}: ${e.getClass().simpleName}: ${e.message}".toString())
            }
        }
        assertEquals('', problems.join('\n'))
    }

    @Test
    void theLibraryHasSteps() {
        assertTrue(steps().contains('goBuildGate'))
    }

    @Test
    void everyStepHasAHelpPage() {
        eachStep { String s -> new File(REPO, "vars/${s}.txt").isFile() ? [] : ["vars/${s}.txt is missing".toString()] }
    }

    @Test
    void everyStepsCallTakesOneMap() {
        eachStep { String s ->
            loadStep(s).getClass().declaredMethods.any { it.name == 'call' && it.parameterTypes as List == [Map] } ?
                [] : ["vars/${s}.groovy has no call(Map config = [:])".toString()]
        }
    }

    @Test
    void everyStepDeclaresItsParameters() {
        eachStep { String s ->
            Object d = defaultsOf(s)
            d instanceof Map && !d.isEmpty() ? [] : ["vars/${s}: resources/steps/${s}.json (make generate) or defaults() must list the parameters".toString()]
        }
    }

    @Test
    void everyStepWithASchemaIsAThinAdapterOverTheRunner() {
        eachStep { String s ->
            if (schemaOf(s) == null) {
                return []
            }
            String src = new File(REPO, "vars/${s}.groovy").text
            List<String> p = []
            boolean verbs = src.contains("StepRunner.runVerb(this, '${s}'") // Jenkins-side work between helper verbs (slackApproval: input)
            if (!src.contains("StepRunner.run(this, '${s}'") && !verbs) {
                p << "vars/${s}.groovy does not hand its Map to StepRunner.run(this, '${s}', config) or StepRunner.runVerb".toString()
            }
            if (src.contains('HelperRunner.run') || src.contains('defaults()') || src.contains("'--")) {
                p << "vars/${s}.groovy builds a helper call itself; the Go Params struct and the runner own that".toString()
            }
            int lines = src.readLines().size()
            if (lines > (verbs ? 50 : 40)) {
                p << "vars/${s}.groovy has ${lines} lines; a thin step has about 15-30 (up to 50 with Jenkins-side work between verbs)".toString()
            }
            p
        }
    }

    @Test
    void theCommittedSchemasAndHelpPagesAreWhatTheGoParamsStructsGenerate() {
        ProcessBuilder pb = new ProcessBuilder('go', 'test', '-count=1', '-run', '^TestGenerated$', './helpers/internal/steps')
            .directory(REPO).redirectErrorStream(true)
        pb.environment().remove('RG_GENERATE')
        pb.environment().put('GOTOOLCHAIN', 'local')
        Process p = pb.start()
        String out = p.inputStream.text
        assertEquals("go test ./helpers/internal/steps (run make generate after changing a Params struct):\n${out}".toString(), 0, p.waitFor())
    }

    @Test
    void everyCredentialOfASchemaIsAStringParameter() {
        eachStep { String s ->
            Map schema = schemaOf(s)
            if (schema == null) {
                return []
            }
            Map types = schema.params.collectEntries { [(it.name): it.type] }
            schema.credentials.findAll { types[it.param] != 'string' || !(it.kind in ['file', 'string', 'usernamePassword']) }
                .collect { "resources/steps/${s}.json: credential ${it.param} (${it.kind}) is not a string parameter".toString() }
        }
    }

    @Test
    void everyDefaultIsDocumentedWithTheSameDefaultAndType() {
        eachStep { String s ->
            Map d = defaultsOf(s)
            Map schema = schemaOf(s)
            Map types = schema == null ? [:] : schema.params.collectEntries { [(it.name): GROOVY_TYPES[it.type]] }
            Map<String, List> docs = documented(s)
            List<String> p = []
            d.each { k, v ->
                List doc = docs[k]
                if (doc == null) {
                    p << "vars/${s}.txt does not document '${k}' (want a line '  ${k} (Type, optional, default ${v.inspect()}): ...')".toString()
                } else if (doc[2] != v.inspect()) {
                    p << "vars/${s}.txt says '${k}' defaults to ${doc[2]} but defaults() says ${v.inspect()}".toString()
                } else if (types[k] != null && doc[0] != types[k]) {
                    p << "vars/${s}.txt says '${k}' is a ${doc[0]} but resources/steps/${s}.json says ${types[k]}: run make generate".toString()
                } else if (types[k] == null && v != null && doc[0] != typeName(v)) {
                    p << "vars/${s}.txt says '${k}' is a ${doc[0]} but its default is a ${typeName(v)}".toString()
                }
            }
            docs.keySet().findAll { !d.containsKey(it) }.each { p << "vars/${s}.txt documents '${it}', which defaults() lacks".toString() }
            p
        }
    }

    @Test
    void everyStepRejectsAnUnknownKeyByNameBeforeRunningAnything() {
        eachStep { String s ->
            calls.clear()
            String msg = null
            try {
                runStep(s, [rgNoSuchParameter: true])
            } catch (PipelineError e) {
                msg = e.message
            }
            List<String> p = []
            if (msg == null || !msg.startsWith("${s}: unknown parameter 'rgNoSuchParameter'") || !msg.contains("(see vars/${s}.txt)")) {
                p << "vars/${s}.groovy: an unknown key gave ${msg.inspect()}, want error \"${s}: unknown parameter 'rgNoSuchParameter'; ... (see vars/${s}.txt)\"".toString()
            }
            if (shCalls()) {
                p << "vars/${s}.groovy ran sh before rejecting an unknown key".toString()
            }
            p
        }
    }

    @Test
    void noGroovySourceParsesJsonIntoUnserializableLazyMaps() {
        List<String> p = []
        ['src', 'vars'].each { dir ->
            new File(REPO, dir).eachFileRecurse { f ->
                if (f.name.endsWith('.groovy') && f.text =~ /JsonSlurper(?!Classic)\b/) {
                    p << "${f.path}: use JsonSlurperClassic or readJSON; JsonSlurper's LazyMap breaks CPS serialization".toString()
                }
            }
        }
        assertEquals('', p.join('\n'))
    }

    /** Collection methods whose closure CPS runs differently from plain Groovy (or not at all, e.g. sort). */
    static final List<String> CLOSURE_METHODS = ['each', 'eachWithIndex', 'collect', 'collectEntries', 'collectMany', 'find',
        'findAll', 'findResult', 'any', 'every', 'sort', 'toSorted', 'groupBy', 'inject', 'count', 'sum', 'max', 'min', 'unique',
        'with', 'times', 'upto', 'eachLine', 'withCloseable', 'tap']

    /** Returns "file:line method" for every closure passed to a collection method outside a @NonCPS method. */
    static List<String> closuresOutsideNonCps(File f) {
        CompilationUnit cu = new CompilationUnit()
        cu.addSource(f)
        cu.compile(Phases.CONVERSION)
        List<String> out = []
        for (ClassNode c : cu.AST.classes) {
            for (MethodNode m : c.methods) {
                if (m.annotations.any { it.classNode.nameWithoutPackage == 'NonCPS' }) {
                    continue
                }
                m.code?.visit(new CodeVisitorSupport() {
                    @Override
                    void visitMethodCallExpression(MethodCallExpression call) {
                        Expression args = call.arguments
                        List<Expression> list = args instanceof TupleExpression ? ((TupleExpression) args).expressions : [args]
                        if (call.methodAsString in CLOSURE_METHODS && list.any { it instanceof ClosureExpression }) {
                            out << "${f.path - (REPO.path + '/')}:${call.lineNumber} ${m.name}() passes a closure to ${call.methodAsString}".toString()
                        }
                        super.visitMethodCallExpression(call)
                    }
                })
            }
        }
        return out
    }

    @Test
    void pipelineCodeUsesPlainLoopsOutsideNonCpsHelpers() {
        List<String> p = []
        ['src', 'vars'].each { dir ->
            new File(REPO, dir).eachFileRecurse { f -> if (f.name.endsWith('.groovy')) p.addAll(closuresOutsideNonCps(f)) }
        }
        assertEquals('use a plain for loop or move the code into a @NonCPS helper that calls no steps:\n', 'use a plain for loop or move the code into a @NonCPS helper that calls no steps:\n' + p.join('\n'))
    }

    @Test
    void theLintSeesAClosurePassedToEachInAPipelineMethod() {
        File f = new File(workspace, 'lintMe.groovy')
        f.text = """import com.cloudbees.groovy.cps.NonCPS
def call(Map c) { [1, 2].each { sh "echo \$it" } }
@NonCPS
List pure(List l) { l.collect { it * 2 } }
"""
        List<String> got = closuresOutsideNonCps(f)
        assertEquals(1, got.size())
        assertTrue(got[0], got[0].endsWith(':2 call() passes a closure to each'))
    }

    @Test
    void theReadmeJenkinsfileUsesOnlyRealParameterNames() {
        String readme = new File(REPO, 'README.md').text
        List<String> p = []
        for (String s : steps()) {
            Matcher m = readme =~ /(?s)\b${s}\((.*?)\)\s*\n\s*}/
            while (m.find()) {
                Set keys = (m.group(1) =~ /(?m)(?:^|[(,])\s*(\w+):/).collect { it[1] } as Set
                Map d = defaultsOf(s)
                keys.findAll { !d.containsKey(it) }.each { p << "README.md calls ${s} with unknown parameter '${it}'".toString() }
            }
        }
        assertTrue(readme.contains('goBuildGate('))
        assertEquals('', p.join('\n'))
    }
}
