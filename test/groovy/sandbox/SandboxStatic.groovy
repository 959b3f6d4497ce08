package sandbox

import org.codehaus.groovy.ast.ClassCodeVisitorSupport
import org.codehaus.groovy.ast.ClassNode
import org.codehaus.groovy.ast.MethodNode
import org.codehaus.groovy.ast.expr.ClassExpression
import org.codehaus.groovy.ast.expr.ConstructorCallExpression
import org.codehaus.groovy.ast.expr.MethodCallExpression
import org.codehaus.groovy.ast.expr.StaticMethodCallExpression
import org.codehaus.groovy.ast.expr.VariableExpression
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.Phases
import org.codehaus.groovy.control.SourceUnit

/**
 * SandboxStatic complements the recording with a pass over the source, for lines no test runs: it reports a
 * constructor of a class with no whitelisted constructor at all, a static call with no whitelisted static method of
 * that name on its class, and a method call whose name no whitelist signature, library method or pipeline step has
 * (hasProperty, inspect, getCauses...). Argument types are unknown here, so a name that some signature permits passes;
 * the recording decides those where the tests run them.
 */
class SandboxStatic {
    /** The 'path:line' of every line in vars/ and src/ that makes a call or constructs an object (set by scan). */
    static Set<String> callLines = new TreeSet<String>()

    /** Returns [signature, 'path:line', note] for each finding in vars/ and src/ under repo. */
    static List<List<String>> scan(File repo, Signatures sigs, ClassLoader parent) {
        callLines = new TreeSet<String>()
        Set<String> newTypes = [] as Set
        Map<String, Set<String>> staticNames = [:].withDefault { [] as Set }
        Set<String> methodNames = [] as Set
        for (String s : sigs.allowed) {
            String[] w = s.split(' ')
            if (w[0] == 'new') {
                newTypes.add(w[1])
            } else if (w[0] == 'staticMethod' && w.length >= 3) {
                staticNames[w[1]].add(w[2])
                if (w[1].startsWith('org.codehaus.groovy.runtime.')) {
                    methodNames.add(w[2]) // a GDK method is called on its first argument
                }
            } else if (w[0] == 'method' && w.length >= 3) {
                methodNames.add(w[2])
                if (w[2] ==~ /(get|is)[A-Z].*/) {
                    methodNames.add(w[2].replaceFirst(/^(get|is)/, ''))
                }
            }
        }
        Set<String> roots = SandboxRecorder.libraryRoots(repo)
        List<File> files = []
        ['vars', 'src'].each { String d ->
            File dir = new File(repo, d)
            if (dir.isDirectory()) {
                dir.eachFileRecurse { File f -> if (f.name.endsWith('.groovy')) { files.add(f) } }
            }
        }
        CompilationUnit cu = new CompilationUnit(new CompilerConfiguration(), null, new GroovyClassLoader(parent))
        Map<SourceUnit, String> paths = [:]
        for (File f : files.sort { it.path }) {
            SourceUnit su = cu.addSource(f)
            paths[su] = (f.canonicalPath - (repo.canonicalPath + File.separator))
        }
        cu.compile(Phases.SEMANTIC_ANALYSIS)
        Set<String> libraryMethods = [] as Set
        cu.AST.modules.each { m -> m.classes.each { ClassNode c -> c.methods.each { MethodNode mn -> libraryMethods.add(mn.name) } } }
        Set<String> steps = SandboxRecorder.STEPS.keySet() + (roots.findAll { !it.contains('.') } as Set)
        List<List<String>> out = []
        cu.AST.modules.each { module ->
            String path = paths[module.context]
            module.classes.each { ClassNode cls ->
                new ClassCodeVisitorSupport() {
                    @Override
                    protected SourceUnit getSourceUnit() { module.context }

                    @Override
                    void visitConstructorCallExpression(ConstructorCallExpression e) {
                        String t = e.type.name
                        if (e.lineNumber > 0) {
                            callLines.add("${path}:${e.lineNumber}".toString())
                        }
                        if (e.lineNumber > 0 && !e.isSuperCall() && !e.isThisCall() && !roots.contains(t.tokenize('$')[0]) && !newTypes.contains(t)) {
                            out.add(["new ${t}".toString(), "${path}:${e.lineNumber}".toString(), 'no constructor of this class is whitelisted'])
                        }
                        super.visitConstructorCallExpression(e)
                    }

                    @Override
                    void visitStaticMethodCallExpression(StaticMethodCallExpression e) {
                        if (e.lineNumber > 0) {
                            callLines.add("${path}:${e.lineNumber}".toString())
                            checkStatic(e.ownerType.name, e.method, e.lineNumber)
                        }
                        super.visitStaticMethodCallExpression(e)
                    }

                    @Override
                    void visitMethodCallExpression(MethodCallExpression e) {
                        String name = e.methodAsString
                        if (e.lineNumber > 0) {
                            callLines.add("${path}:${e.lineNumber}".toString())
                        }
                        if (name != null && e.lineNumber > 0) {
                            if (e.objectExpression instanceof ClassExpression) {
                                checkStatic(e.objectExpression.type.name, name, e.lineNumber)
                            } else if (!(e.implicitThis || (e.objectExpression instanceof VariableExpression &&
                                ((VariableExpression) e.objectExpression).isThisExpression())) &&
                                !methodNames.contains(name) && !libraryMethods.contains(name) && !steps.contains(name)) {
                                out.add(["method * ${name}".toString(), "${path}:${e.lineNumber}".toString(),
                                         'no whitelisted signature of any class has this method name'])
                            }
                        }
                        super.visitMethodCallExpression(e)
                    }

                    private void checkStatic(String type, String name, int line) {
                        if (!roots.contains(type.tokenize('$')[0]) && !staticNames[type].contains(name) && !(type in ['java.lang.Object'])) {
                            out.add(["staticMethod ${type} ${name}".toString(), "${path}:${line}".toString(),
                                     'no static method of this name on this class is whitelisted'])
                        }
                    }
                }.visitClass(cls)
            }
        }
        return out
    }
}
