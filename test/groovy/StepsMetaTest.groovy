import io.releasegates.StepConfig
import org.codehaus.groovy.ast.ClassNode
import org.codehaus.groovy.ast.CodeVisitorSupport
import org.codehaus.groovy.ast.MethodNode
import org.codehaus.groovy.ast.builder.AstBuilder
import org.codehaus.groovy.ast.expr.ClosureExpression
import org.codehaus.groovy.ast.expr.ConstantExpression
import org.codehaus.groovy.ast.expr.Expression
import org.codehaus.groovy.ast.expr.GStringExpression
import org.codehaus.groovy.ast.expr.ListExpression
import org.codehaus.groovy.ast.expr.MapExpression
import org.codehaus.groovy.ast.expr.MethodCallExpression
import org.codehaus.groovy.ast.expr.TupleExpression
import org.codehaus.groovy.ast.stmt.BlockStatement
import org.codehaus.groovy.control.CompilePhase
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.Phases
import org.junit.Test

import java.util.regex.Matcher

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertTrue

/**
 * Holds every vars/<step>.groovy to the library's conventions (like Piper's CommonStepsTest): a help page,
 * call(Map), a generated resources/steps/<step>.json documented key by key with the same default, unknown keys rejected
 * before any sh.
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

    /** Returns resources/steps/<step>.json parsed, or null when the step has none. */
    static Map schemaOf(String step) {
        File f = new File(REPO, "resources/steps/${step}.json")
        return f.isFile() ? (Map) new groovy.json.JsonSlurperClassic().parseText(f.text) : null
    }

    static final Map GROOVY_TYPES = [string: 'String', boolean: 'Boolean', integer: 'Integer', list: 'List', map: 'Map']

    /** Returns the step's parameters and defaults, from its generated schema (every step has one; the Go Params struct declares them). */
    static Map defaultsOf(String step) {
        Map schema = schemaOf(step)
        if (schema == null) {
            throw new IllegalStateException("resources/steps/${step}.json is missing: declare the step's Params in Go and run make generate")
        }
        return schema.params.collectEntries { [(it.name): it['default']] }
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
            d instanceof Map && !d.isEmpty() ? [] : ["vars/${s}: resources/steps/${s}.json (make generate) must list the parameters".toString()]
        }
    }

    @Test
    void everyStepWithASchemaIsAThinAdapterOverTheRunner() {
        eachStep { String s ->
            if (schemaOf(s) == null) {
                return ["vars/${s}.groovy has no resources/steps/${s}.json: declare its Params in Go and run make generate".toString()]
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
                return ["vars/${s}.groovy has no resources/steps/${s}.json: run make generate".toString()]
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
            Map types = schema.params.collectEntries { [(it.name): GROOVY_TYPES[it.type]] }
            Map<String, List> docs = documented(s)
            List<String> p = []
            d.each { k, v ->
                List doc = docs[k]
                if (doc == null) {
                    p << "vars/${s}.txt does not document '${k}' (want a line '  ${k} (Type, optional, default ${v.inspect()}): ...')".toString()
                } else if (doc[2] != v.inspect()) {
                    p << "vars/${s}.txt says '${k}' defaults to ${doc[2]} but resources/steps/${s}.json says ${v.inspect()}".toString()
                } else if (doc[0] != types[k]) {
                    p << "vars/${s}.txt says '${k}' is a ${doc[0]} but resources/steps/${s}.json says ${types[k]}: run make generate".toString()
                }
            }
            docs.keySet().findAll { !d.containsKey(it) }.each { p << "vars/${s}.txt documents '${it}', which resources/steps/${s}.json lacks".toString() }
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

    /** A stand-in of the schema type for a README value that is an expression (env.GIT_URL, signed.digest, ...). */
    static final Map STAND_INS = [string: 'expr', boolean: true, integer: 1, list: ['expr'], map: [expr: 'expr']]

    /**
     * Returns the Map a README call passes, its literals as written and every other expression as a stand-in of the type
     * the schema declares (an element of a list or map as a String), so the schema check sees what it can know statically.
     */
    static Object valueOf(Expression e, String type) {
        if (e instanceof ConstantExpression) {
            return ((ConstantExpression) e).value
        }
        if (e instanceof GStringExpression) {
            return ((GStringExpression) e).text
        }
        if (e instanceof ListExpression) {
            return ((ListExpression) e).expressions.collect { valueOf(it, 'string') }
        }
        if (e instanceof MapExpression) {
            return ((MapExpression) e).mapEntryExpressions.collectEntries { [(valueOf(it.keyExpression, 'string')): valueOf(it.valueExpression, 'string')] }
        }
        return STAND_INS.containsKey(type) ? STAND_INS[type] : 'expr'
    }

    /** Returns "step(line N): problem" for every call of a step in a Jenkinsfile that the step's schema would refuse. */
    static List<String> schemaProblemsOf(String jenkinsfile, List<String> checked = []) {
        List<String> out = []
        List<String> names = steps()
        List nodes = new AstBuilder().buildFromString(CompilePhase.CONVERSION, jenkinsfile.replaceAll(/(?m)^@Library.*$/, ''))
        CodeVisitorSupport visitor = new CodeVisitorSupport() {
            @Override
            void visitMethodCallExpression(MethodCallExpression call) {
                String s = call.methodAsString
                if (s in names && schemaOf(s) != null) {
                    Map schema = schemaOf(s)
                    checked << s
                    Map types = schema.params.collectEntries { [(it.name): it.type] }
                    List<Expression> args = call.arguments instanceof TupleExpression ? ((TupleExpression) call.arguments).expressions : [call.arguments]
                    MapExpression named = (MapExpression) args.find { it instanceof MapExpression }
                    Map config = named == null ? [:] : named.mapEntryExpressions.collectEntries {
                        String k = valueOf(it.keyExpression, 'string')
                        [(k): valueOf(it.valueExpression, types[k])]
                    }
                    String problem = StepConfig.problemWithSchema(s, schema, config)
                    if (problem != null) {
                        out << "${s} (line ${call.lineNumber}): ${problem}".toString()
                    }
                }
                super.visitMethodCallExpression(call)
            }
        }
        nodes.each { if (it instanceof BlockStatement) { ((BlockStatement) it).visit(visitor) } }
        return out
    }

    /** Returns the README's Jenkinsfile: the groovy block under "## Jenkinsfile". */
    static String readmeJenkinsfile() {
        Matcher m = new File(REPO, 'README.md').text =~ /(?s)## Jenkinsfile\s*```groovy\n(.*?)\n```/
        assertTrue('README.md has no ```groovy block under ## Jenkinsfile', m.find())
        return m.group(1)
    }

    @Test
    void theReadmeJenkinsfilePassesEveryStepsSchemaCheck() {
        String jenkinsfile = readmeJenkinsfile()
        for (String s : steps()) {
            assertTrue("README.md's Jenkinsfile does not call ${s}", jenkinsfile.contains("${s}("))
        }
        List<String> checked = []
        assertEquals('', schemaProblemsOf(jenkinsfile, checked).join('\n'))
        assertEquals(steps(), checked.unique().sort())
    }

    @Test
    void theReadmeSchemaCheckSeesAMissingKeyAWrongTypeAndAnElementType() {
        String bad = '''pipeline { stages { stage('x') { steps { script {
  verifyRelease(image: signed.digest, environment: 'prod', expectBranch: 'main', minApprovals: '2',
    cosignKeys: ['k.pub'], releaseKeys: ['r.pub'], trustPolicy: 'p.json', trustStore: 's') { d -> sh "echo ${d}" }
  goBuildGate(smokeArgs: [[1]], smokeCommand: './bin/orders')
  slackApproval(relayUrl: env.RG_RELAY_URL, relayPublicKey: 'r.pub', channel: 'C', service: 's', environment: 'prod',
    version: "v${env.BUILD_NUMBER}", unstash: 'keys')
} } } } }'''
        List<String> got = schemaProblemsOf(bad)
        assertEquals(3, got.size())
        assertTrue(got[0], got[0].startsWith("verifyRelease (line 2): verifyRelease: parameter 'minApprovals' must be an Integer, got String '2'"))
        assertTrue(got[1], got[1].startsWith("goBuildGate (line 4): goBuildGate: parameter 'smokeArgs' must be a List of Strings"))
        assertTrue(got[2], got[2].startsWith("slackApproval (line 5): slackApproval: parameter 'unstash' must be a List of Strings, got String 'keys'"))
        assertEquals(["verifyRelease (line 1): verifyRelease: parameter 'expectRepo' is required (see vars/verifyRelease.txt)"],
            schemaProblemsOf("verifyRelease(image: signed.digest, environment: 'prod', expectBranch: 'main', cosignKeys: ['k.pub'], " +
                "releaseKeys: ['r.pub'], trustPolicy: 'p.json', trustStore: 's')"))
    }

    @Test
    void theChangelogsUnreleasedSectionHasEachHeadingOnceAndTheExitCodesTheCodeUses() {
        String changelog = new File(REPO, 'CHANGELOG.md').text
        Matcher m = changelog =~ /(?s)## \[Unreleased\]\n(.*?)(?=\n## \[|\z)/
        assertTrue('CHANGELOG.md has no [Unreleased] section', m.find())
        String unreleased = m.group(1)
        List<String> headings = (unreleased =~ /(?m)^### .*$/).collect { it.toString() }
        assertEquals('one heading of each kind in [Unreleased]', headings.unique(false), headings)
        String bug = io.releasegates.HelperRunner.failureMessage('<step>', '<helper>', 4, [trace_id: '<id>', message: '<message>'])
        assertEquals('<step>: helper bug, please report (helper <helper>, trace <id>): <message>', bug)
        List<String> stale = (unreleased =~ /<step>: helper bug, please report[^`]*/).collect { it.toString() }.findAll { it != bug }
        assertEquals('CHANGELOG.md [Unreleased] quotes the exit-4 message as the runner writes it', [], stale)
        assertTrue('README.md documents the exit-4 message as the runner writes it', new File(REPO, 'README.md').text.contains("`${bug}`"))
        Matcher contract = unreleased =~ /(?m)^- Helper contract:\n  - exit codes (.*)$/
        assertTrue('CHANGELOG.md [Unreleased] has a "Helper contract" bullet with its exit codes', contract.find())
        ['0 passed', '1 rejected', '2 bad input or configuration', '3 infrastructure unavailable', '4 helper bug'].each {
            assertTrue("the Helper contract bullet lacks exit code ${it}: ${contract.group(1)}", contract.group(1).contains(it))
        }
    }
}
