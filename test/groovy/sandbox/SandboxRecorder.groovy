package sandbox

import groovy.transform.CompileStatic
import org.codehaus.groovy.reflection.ClassInfo
import org.codehaus.groovy.runtime.DateGroovyMethods
import org.codehaus.groovy.runtime.DefaultGroovyMethods
import org.codehaus.groovy.runtime.EncodingGroovyMethods
import org.codehaus.groovy.runtime.ProcessGroovyMethods
import org.codehaus.groovy.runtime.StringGroovyMethods
import org.codehaus.groovy.runtime.wrappers.Wrapper
import org.jenkinsci.plugins.scriptsecurity.sandbox.RejectedAccessException

import java.lang.reflect.Field
import java.lang.reflect.Method
import java.util.concurrent.ConcurrentHashMap
import java.util.function.Function
import java.util.stream.Stream

/**
 * SandboxRecorder checks, while the step tests run, every call that vars/ and src/ make against Jenkins' Groovy sandbox
 * as a folder-level (untrusted) library meets it. A RecordingMetaClass wraps every metaclass (a MetaClassCreationHandle),
 * so method calls, static calls, constructors and property gets/sets reach onCall/onStatic/onNew/onGet/onSet; a stack
 * walk attributes each to the vars/ or src/ line that made it (calls the harness or the Groovy runtime make are not the
 * library's). Each is decided as script-security's SandboxInterceptor would:
 * <ul>
 * <li>members declared by the library's own classes (vars scripts, src/ classes, their closures) are allowed, as
 *     ClassLoaderWhitelist allows the sandboxed script's own classes;</li>
 * <li>a call on a script to a registered pipeline step (a binding closure whose name is in STEPS, or a vars step) is
 *     allowed; `env` allows only property gets and sets (EnvActionImpl, workflow-cps CpsWhitelist); currentBuild's
 *     properties are RunWrapper's @Whitelisted getters and setters;</li>
 * <li>a Map's property is Map.get / Map.put (groovy-sandbox Checker.checkedGetProperty);</li>
 * <li>everything else must match a signature of generic-whitelist or jenkins-whitelist, picked as
 *     GroovyCallSiteSelector picks it (Signatures); a GDK method is a staticMethod of DefaultGroovyMethods or one of its
 *     sibling classes with the receiver first; a Number receiver with no real method (Integer.plus) is allowed.</li>
 * </ul>
 * What is left needs an administrator's approval in Jenkins; report() lists each with its call sites.
 */
@CompileStatic
class SandboxRecorder {
    /** Pipeline steps a library may call, with the plugin that provides each (the harness registers them as binding closures). */
    static final Map<String, String> STEPS = [
        sh: 'workflow-durable-task-step', isUnix: 'workflow-basic-steps', pwd: 'workflow-basic-steps', dir: 'workflow-basic-steps',
        readFile: 'workflow-basic-steps', writeFile: 'workflow-basic-steps', fileExists: 'workflow-basic-steps',
        echo: 'workflow-basic-steps', error: 'workflow-basic-steps', withEnv: 'workflow-basic-steps', timeout: 'workflow-basic-steps',
        retry: 'workflow-basic-steps', sleep: 'workflow-basic-steps', catchError: 'workflow-basic-steps', unstable: 'workflow-basic-steps',
        warnError: 'workflow-basic-steps', deleteDir: 'workflow-basic-steps',
        stash: 'workflow-basic-steps', unstash: 'workflow-basic-steps', archiveArtifacts: 'workflow-basic-steps (core ArtifactArchiver)',
        node: 'workflow-durable-task-step', parallel: 'workflow-cps', stage: 'pipeline-stage-step', milestone: 'pipeline-milestone-step',
        withCredentials: 'credentials-binding', usernamePassword: 'credentials-binding', string: 'credentials-binding',
        file: 'credentials-binding', sshUserPrivateKey: 'credentials-binding',
        readJSON: 'pipeline-utility-steps', writeJSON: 'pipeline-utility-steps', readYaml: 'pipeline-utility-steps',
        writeYaml: 'pipeline-utility-steps', readProperties: 'pipeline-utility-steps', findFiles: 'pipeline-utility-steps',
        sha256: 'pipeline-utility-steps', libraryResource: 'pipeline-groovy-lib', junit: 'junit', input: 'pipeline-input-step',
        lock: 'lockable-resources', waitUntil: 'workflow-basic-steps', tool: 'workflow-basic-steps', ws: 'workflow-durable-task-step',
        checkout: 'workflow-scm-step', git: 'git', build: 'pipeline-build-step', mail: 'workflow-basic-steps (mailer)',
        properties: 'workflow-multibranch', booleanParam: 'core ParameterDefinition @Symbol', choice: 'core ParameterDefinition @Symbol',
        text: 'core ParameterDefinition @Symbol', password: 'core ParameterDefinition @Symbol',
    ]

    /** The GDK classes SandboxInterceptor searches, in its order (DGM_CLASSES). */
    private static final Class[] DGM = [DefaultGroovyMethods, StringGroovyMethods, EncodingGroovyMethods, DateGroovyMethods,
                                        ProcessGroovyMethods] as Class[]
    /** Number methods Groovy synthesises (NumberMathModificationInfo), which SandboxInterceptor allows on any Number. */
    private static final Set<String> NUMBER_MATH = ['plus', 'minus', 'multiply', 'div', 'compareTo', 'or', 'and', 'xor', 'intdiv', 'mod',
                                                    'leftShift', 'rightShift', 'rightShiftUnsigned'] as Set<String>
    private static final ThreadLocal<Boolean> BUSY = new ThreadLocal<Boolean>()
    private static final ThreadLocal<Scope> SCOPE = new ThreadLocal<Scope>()
    private static final StackWalker WALKER = StackWalker.getInstance()

    private static volatile boolean installed = false
    /** The stock lists in use. */
    static Signatures signatures
    private static File repo
    private static Set<String> roots = new HashSet<String>()
    private static Set<String> varsSteps = new HashSet<String>()
    private static final Map<Object, String> GLOBALS = Collections.synchronizedMap(new IdentityHashMap<Object, String>())
    private static final Map<String, Finding> FINDINGS = new ConcurrentHashMap<String, Finding>()
    private static final Set<String> ALLOWED_SITES = ConcurrentHashMap.newKeySet()
    private static final Set<String> STEPS_USED = ConcurrentHashMap.newKeySet()
    /** The test running now, named in findings. */
    static volatile String currentTest = '?'

    /** One signature that needs approval, at one call site. */
    static class Finding {
        String signature
        String site
        String note
        String test
        int count
        boolean blacklisted

        String toString() {
            return "${signature}${blacklisted ? ' [blacklisted]' : ''} at ${site}${note ? " (${note})" : ''}".toString()
        }
    }

    private static class Scope {
        Set<String> roots
        List<Finding> findings = []
        Set<String> allowed = new HashSet<String>()
    }

    /** The distinct allowed calls the last capture saw (so a test can tell a clean run from one that saw nothing). */
    static Set<String> lastCaptureAllowed = new HashSet<String>()

    /** RG_SANDBOX: check (default: fail the run on a finding), report (list only), reject (also throw), off. */
    static String mode() {
        return System.getenv('RG_SANDBOX') ?: 'check'
    }

    static boolean isInstalled() {
        return installed
    }

    /** Loads the stock lists, learns the library's classes from vars/ and src/, and starts recording. */
    static synchronized void install(File repoDir, Signatures sigs) {
        repo = repoDir.canonicalFile
        signatures = sigs
        roots = libraryRoots(repo)
        varsSteps = new HashSet<String>()
        new File(repo, 'vars').eachFile { File f -> if (f.name.endsWith('.groovy')) { varsSteps.add(f.name - '.groovy') } }
        MetaClassRegistry registry = GroovySystem.metaClassRegistry
        registry.metaClassCreationHandle = new Handle()
        for (ClassInfo ci : ClassInfo.allClassInfo) {
            Class c = ci.theClass
            if (c != null && !skipClass(c)) {
                registry.removeMetaClass(c)
            }
        }
        installed = true
    }

    /** Returns the class names (up to the first '$') that vars/*.groovy and src/**&#47;*.groovy define. */
    static Set<String> libraryRoots(File repoDir) {
        Set<String> out = new HashSet<String>()
        File vars = new File(repoDir, 'vars')
        if (vars.isDirectory()) {
            vars.eachFile { File f -> if (f.name.endsWith('.groovy')) { out.add(f.name - '.groovy') } }
        }
        File src = new File(repoDir, 'src')
        if (src.isDirectory()) {
            String base = src.canonicalPath + File.separator
            src.eachFileRecurse { File f ->
                if (f.name.endsWith('.groovy')) {
                    out.add((f.canonicalPath - base - '.groovy').replace(File.separator, '.'))
                }
            }
        }
        return out
    }

    /** Tells the recorder which objects stand for the pipeline's env and currentBuild in this test. */
    static void globals(Binding b) {
        GLOBALS.clear()
        if (b.hasVariable('env')) {
            GLOBALS.put(b.getVariable('env'), 'env')
        }
        if (b.hasVariable('currentBuild')) {
            GLOBALS.put(b.getVariable('currentBuild'), 'currentBuild')
        }
    }

    /** Runs body treating the classes named by extraRoots as library code, and returns what it recorded (kept out of report()). */
    static List<Finding> capture(Set<String> extraRoots, Closure body) {
        Scope s = new Scope(roots: extraRoots)
        SCOPE.set(s)
        try {
            body.call()
        } finally {
            SCOPE.remove()
            lastCaptureAllowed = s.allowed
        }
        return s.findings
    }

    static Object[] asArgs(Object arg) {
        if (arg == null) {
            return [null] as Object[]
        }
        return arg instanceof Object[] ? (Object[]) arg : [arg] as Object[]
    }

    /** Returns args with Groovy's cast wrappers ((int) x arrives as a PojoWrapper) unwrapped, as the call sees them. */
    private static Object[] plain(Object[] args) {
        if (args == null) {
            return new Object[0]
        }
        Object[] out = args
        for (int i = 0; i < args.length; i++) {
            if (args[i] instanceof Wrapper) {
                if (out.is(args)) {
                    out = (Object[]) args.clone()
                }
                out[i] = ((Wrapper) args[i]).unwrap()
            }
        }
        return out
    }

    // ---- hooks (RecordingMetaClass) ----

    static void onCall(Object receiver, String name, Object[] args) {
        hook { String site -> decideCall(receiver, name, plain(args)) }
    }

    static void onStatic(Class c, String name, Object[] args) {
        hook { String site -> decideStatic(c, name, plain(args)) }
    }

    static void onNew(Class c, Object[] args) {
        hook { String site -> decideNew(c, plain(args)) }
    }

    static void onGet(Object receiver, String property) {
        hook { String site -> decideGet(receiver, property) }
    }

    static void onSet(Object receiver, String property, Object value) {
        hook { String site -> decideSet(receiver, property, value) }
    }

    static void onField(Object receiver, String name) {
        hook { String site -> decideField(receiver, name) }
    }

    /** Runs decide (which returns null for "allowed", else [signature, note]) when a library line made the call. */
    private static void hook(Closure<List<String>> decide) {
        if (!installed || BUSY.get()) {
            return
        }
        BUSY.set(Boolean.TRUE)
        try {
            String site = librarySite()
            if (site == null) {
                return
            }
            List<String> verdict = decide.call(site)
            if (verdict == null) {
                return
            }
            if (verdict[0] == null) {
                Scope scope = SCOPE.get()
                if (scope == null) {
                    ALLOWED_SITES.add(verdict[1] + ' @ ' + site)
                } else {
                    scope.allowed.add(verdict[1])
                }
                return
            }
            record(verdict[0], site, verdict[1])
            if (SCOPE.get() == null && REJECT) {
                throw new RejectedAccessException(verdict[0]) // as Jenkins does: shows what a user would see
            }
        } finally {
            BUSY.remove()
        }
    }

    /** RG_SANDBOX=reject: throw at each refused call, as Jenkins does, to see how a step reports it (tests then fail). */
    private static final boolean REJECT = System.getenv('RG_SANDBOX') == 'reject'

    private static void record(String sig, String site, String note) {
        Finding f = new Finding(signature: sig, site: site, note: note, test: currentTest, count: 1,
            blacklisted: signatures?.isBlacklisted(sig) ?: false)
        Scope s = SCOPE.get()
        if (s != null) {
            if (!s.findings.any { Finding x -> x.signature == sig && x.site == site }) {
                s.findings.add(f)
            }
            return
        }
        Finding old = FINDINGS.putIfAbsent(sig + ' @ ' + site, f)
        if (old != null) {
            old.count++
        }
    }

    // ---- attribution ----

    private static final Set<String> DISPATCH_METHODS = ['getProperty', 'setProperty', 'invokeMethod', 'getAttribute', 'setAttribute',
                                                         'invokeMissingMethod', 'methodMissing', 'propertyMissing', 'invokeMissingProperty'] as Set<String>

    /** Returns "path:line" of the vars/ or src/ line whose call reached the hook, or null when the harness or the runtime made it. */
    private static String librarySite() {
        return WALKER.walk(new Function<Stream<StackWalker.StackFrame>, String>() {
            @Override
            String apply(Stream<StackWalker.StackFrame> frames) {
                Iterator<StackWalker.StackFrame> it = frames.iterator()
                while (it.hasNext()) {
                    StackWalker.StackFrame f = it.next()
                    String cls = f.className
                    String m = f.methodName
                    if (isLibraryName(cls)) {
                        return sitePath(cls, f.fileName) + ':' + f.lineNumber
                    }
                    if (!isDispatch(cls, m)) {
                        return null
                    }
                }
                return null
            }
        })
    }

    private static boolean isDispatch(String cls, String m) {
        if (cls.startsWith('sandbox.') || cls.startsWith('org.codehaus.groovy.runtime.callsite.') ||
            cls.startsWith('org.codehaus.groovy.runtime.metaclass.') || cls.startsWith('org.codehaus.groovy.reflection.') ||
            cls.startsWith('java.lang.reflect.') || cls.startsWith('jdk.internal.reflect.') || cls.startsWith('sun.reflect.') ||
            cls.startsWith('java.lang.invoke.') || cls.startsWith('org.codehaus.groovy.vmplugin.') ||
            cls == 'groovy.lang.MetaClassImpl' || cls == 'groovy.lang.DelegatingMetaClass' || cls == 'groovy.lang.ExpandoMetaClass') {
            return true
        }
        if (cls == 'org.codehaus.groovy.runtime.ScriptBytecodeAdapter' || cls == 'org.codehaus.groovy.runtime.InvokerHelper') {
            // invokeMethodN, getProperty, setGroovyObjectProperty...: a call site; asType, compareTo, matchRegex...: an operator
            return m.startsWith('invoke') || m.startsWith('getProperty') || m.startsWith('setProperty') ||
                m.startsWith('getGroovyObjectProperty') || m.startsWith('setGroovyObjectProperty') || m.startsWith('getField') ||
                m.startsWith('setField') || m.startsWith('getAttribute') || m.startsWith('setAttribute')
        }
        return DISPATCH_METHODS.contains(m)
    }

    private static String sitePath(String cls, String fileName) {
        String root = rootOf(cls)
        if (varsSteps.contains(root)) {
            return "vars/${root}.groovy".toString()
        }
        if (root.contains('.')) {
            return 'src/' + root.replace('.', '/') + '.groovy'
        }
        return fileName ?: root
    }

    private static String rootOf(String cls) {
        int i = cls.indexOf('$')
        return i < 0 ? cls : cls.substring(0, i)
    }

    private static boolean isLibraryName(String cls) {
        String r = rootOf(cls)
        Scope s = SCOPE.get()
        return roots.contains(r) || (s != null && s.roots.contains(r))
    }

    static boolean isLibrary(Class c) {
        return c != null && isLibraryName(c.name)
    }

    private static boolean skipClass(Class c) {
        String n = c.name
        return n.startsWith('sandbox.') || n.startsWith('org.junit.') || n.startsWith('junit.')
    }

    // ---- decisions: null = not the library's concern, [null, sig] = allowed, [sig, note] = needs approval ----

    private static List<String> allow(String what) {
        return [null, what]
    }

    private static List<String> check(String sig, String note = null) {
        return signatures.permits(sig) ? allow(sig) : [sig, note]
    }

    static List<String> decideCall(Object receiver, String name, Object[] args) {
        if (receiver == null) {
            return null
        }
        String global = GLOBALS.get(receiver)
        if (global == 'env') {
            if (name in ['getProperty', 'setProperty', 'getEnvironment']) {
                return allow('env.' + name)
            }
            if (name == 'getAt' || name == 'putAt') {
                return check("staticMethod org.codehaus.groovy.runtime.DefaultGroovyMethods ${name} java.lang.Object java.lang.String".toString(),
                    'env is an EnvActionImpl in Jenkins: read env.NAME, or env.getEnvironment()[name]')
            }
            return ["method org.jenkinsci.plugins.workflow.cps.EnvActionImpl ${name}${Signatures.argTypes(args)}".toString(),
                    'env is an EnvActionImpl in Jenkins, not a Map: read env.NAME, or env.getEnvironment() for a Map']
        }
        if (global == 'currentBuild' && declaresMember(receiver.getClass(), name)) {
            return allow('org.jenkinsci.plugins.workflow.support.steps.build.RunWrapper ' + name + ' (@Whitelisted)')
        }
        if (receiver instanceof Script) {
            Binding b = ((Script) receiver).binding
            if (Signatures.method(receiver, name, args) == null && b != null && b.hasVariable(name) && b.getVariable(name) instanceof Closure) {
                if (STEPS.containsKey(name) || varsSteps.contains(name)) {
                    if (SCOPE.get() == null) {
                        STEPS_USED.add(name)
                    }
                    return allow('step ' + name)
                }
                return ["step ${name}".toString(), 'not a known pipeline step: add it to SandboxRecorder.STEPS with its plugin if Jenkins has it']
            }
        }
        if (receiver instanceof Class) {
            Method onClass = Signatures.method(receiver, name, args)
            if (onClass != null) {
                return check(Signatures.method(onClass))
            }
            return decideStatic((Class) receiver, name, args)
        }
        Method m = Signatures.method(receiver, name, args)
        if (m == null && receiver instanceof Closure && isLibrary(receiver.getClass())) {
            return null // resolved on the closure's owner or delegate, where the hook sees it again
        }
        if (m != null) {
            return isLibrary(m.declaringClass) ? allow('library ' + m.declaringClass.name + '.' + name) : check(Signatures.method(m))
        }
        if (receiver instanceof Number && NUMBER_MATH.contains(name)) {
            return allow('synthetic ' + Signatures.name(receiver.getClass()) + ' ' + name)
        }
        if ((name == 'getAt' || name == 'putAt') && receiver.getClass().isArray() && args.length > 0 && args[0] instanceof Integer) {
            return allow('array subscript') // SandboxInterceptor.onGetArray / onSetArray
        }
        Object[] self = new Object[args.length + 1]
        self[0] = receiver
        System.arraycopy(args, 0, self, 1, args.length)
        List<String> rejected = null
        for (Class dgm : DGM) {
            Method g = Signatures.staticMethod(dgm, name, self)
            if (g != null) {
                List<String> v = check(Signatures.method(g))
                if (v[0] == null) {
                    return v
                }
                rejected = rejected ?: v
            }
        }
        if (rejected != null) {
            return rejected
        }
        if (receiver instanceof GroovyObject) {
            return ['method groovy.lang.GroovyObject invokeMethod java.lang.String java.lang.Object',
                    "dynamic ${Signatures.name(receiver.getClass())} ${name}${Signatures.argTypes(args)}".toString()]
        }
        return ["unclassified method ${Signatures.name(receiver.getClass())} ${name}${Signatures.argTypes(args)}".toString(), null]
    }

    static List<String> decideStatic(Class c, String name, Object[] args) {
        if (isLibrary(c)) {
            return allow('library ' + c.name + '.' + name)
        }
        Method m = Signatures.staticMethod(c, name, args)
        if (m == null) {
            Method onClass = Signatures.method(c, name, args) // a method of java.lang.Class called on a class value
            if (onClass != null) {
                return check(Signatures.method(onClass))
            }
            return ["unclassified staticMethod ${Signatures.name(c)} ${name}${Signatures.argTypes(args)}".toString(), null]
        }
        return check(Signatures.method(m))
    }

    static List<String> decideNew(Class c, Object[] args) {
        if (isLibrary(c)) {
            return allow('library new ' + c.name)
        }
        def k = Signatures.constructor(c, args)
        if (k == null) {
            return ["unclassified new ${Signatures.name(c)}${Signatures.argTypes(args)}".toString(), null]
        }
        return check(Signatures.constructor(k), c == LinkedHashMap || c == ArrayList || c == HashMap ? 'use a [:] or [] literal' : null)
    }

    static List<String> decideGet(Object receiver, String property) {
        if (receiver == null) {
            return null
        }
        String global = GLOBALS.get(receiver)
        if (global == 'env') {
            return allow('env.' + property)
        }
        if (global == 'currentBuild' && declaresProperty(receiver.getClass(), property)) {
            return allow('currentBuild.' + property + ' (RunWrapper @Whitelisted)')
        }
        if (receiver instanceof Script && ((Script) receiver).binding?.hasVariable(property)) {
            return allow('global ' + property)
        }
        if (receiver instanceof Closure && isLibrary(receiver.getClass())) {
            return null
        }
        if (receiver instanceof Class) {
            Class c = (Class) receiver
            if (isLibrary(c)) {
                return allow('library ' + c.name + '.' + property)
            }
            String cap = capitalize(property)
            Method g = Signatures.staticMethod(c, 'get' + cap, new Object[0]) ?: Signatures.staticMethod(c, 'is' + cap, new Object[0])
            if (g != null) {
                return check(Signatures.method(g))
            }
            Field f = Signatures.staticField(c, property)
            if (f != null) {
                return check(Signatures.field(f))
            }
        }
        if (isLibrary(receiver.getClass()) && declaresProperty(receiver.getClass(), property)) {
            return allow('library ' + receiver.getClass().name + '.' + property)
        }
        if (receiver instanceof Map) {
            return check('method java.util.Map get java.lang.Object')
        }
        if (receiver.getClass().isArray() && property == 'length') {
            return allow('array length')
        }
        String cap = capitalize(property)
        List<String> first = null
        for (String getter : ['get' + cap, 'is' + cap]) {
            Method m = Signatures.method(receiver, getter, new Object[0])
            if (m != null && (getter.startsWith('get') || m.returnType == boolean)) {
                List<String> v = isLibrary(m.declaringClass) ? allow('library') : check(Signatures.method(m))
                if (v[0] == null) {
                    return v
                }
                first = first ?: v
            }
        }
        for (Class dgm : DGM) {
            for (String getter : ['get' + cap, 'is' + cap]) {
                Method g = Signatures.staticMethod(dgm, getter, [receiver] as Object[])
                if (g != null) {
                    List<String> v = check(Signatures.method(g))
                    if (v[0] == null) {
                        return v
                    }
                    first = first ?: v
                }
            }
        }
        Field f = Signatures.field(receiver, property)
        if (f != null) {
            List<String> v = isLibrary(f.declaringClass) ? allow('library') : check(Signatures.field(f))
            if (v[0] == null) {
                return v
            }
            first = first ?: v
        }
        Method gp = Signatures.method(receiver, 'getProperty', [property] as Object[])
        if (gp != null) {
            List<String> v = check(Signatures.method(gp), "dynamic ${Signatures.name(receiver.getClass())}.${property}".toString())
            if (v[0] == null) {
                return v
            }
            first = first ?: v
        }
        return first ?: ["unclassified field ${Signatures.name(receiver.getClass())} ${property}".toString(), null]
    }

    static List<String> decideSet(Object receiver, String property, Object value) {
        if (receiver == null) {
            return null
        }
        String global = GLOBALS.get(receiver)
        if (global == 'env') {
            return allow('env.' + property + ' =')
        }
        if (global == 'currentBuild' && declaresProperty(receiver.getClass(), property)) {
            return allow('currentBuild.' + property + ' = (RunWrapper @Whitelisted)')
        }
        if (receiver instanceof Script && property != 'binding' && property != 'metaClass') {
            return allow('script property ' + property)
        }
        if (receiver instanceof Closure && isLibrary(receiver.getClass())) {
            return null
        }
        if (receiver instanceof Class && isLibrary((Class) receiver)) {
            return allow('library ' + ((Class) receiver).name + '.' + property + ' =')
        }
        if (isLibrary(receiver.getClass()) && declaresProperty(receiver.getClass(), property)) {
            return allow('library ' + receiver.getClass().name + '.' + property + ' =')
        }
        if (receiver instanceof Map) {
            return check('method java.util.Map put java.lang.Object java.lang.Object')
        }
        Object[] v = [value] as Object[]
        Method s = Signatures.method(receiver, 'set' + capitalize(property), v)
        if (s != null) {
            return check(Signatures.method(s))
        }
        Method sp = Signatures.method(receiver, 'setProperty', [property, value] as Object[])
        if (sp != null) {
            return check(Signatures.method(sp), "dynamic ${Signatures.name(receiver.getClass())}.${property} =".toString())
        }
        Field f = Signatures.field(receiver, property)
        if (f != null) {
            return check(Signatures.field(f))
        }
        return ["unclassified field ${Signatures.name(receiver.getClass())} ${property}".toString(), null]
    }

    static List<String> decideField(Object receiver, String name) {
        if (receiver == null || isLibrary(receiver instanceof Class ? (Class) receiver : receiver.getClass())) {
            return allow('library field ' + name)
        }
        Field f = receiver instanceof Class ? Signatures.staticField((Class) receiver, name) : Signatures.field(receiver, name)
        return f == null ? ["unclassified field ${Signatures.name(receiver.getClass())} ${name}".toString(), null] : check(Signatures.field(f))
    }

    private static boolean declaresMember(Class c, String name) {
        for (Method m : c.declaredMethods) {
            if (m.name == name) {
                return true
            }
        }
        return false
    }

    /** Reports whether a library (or harness-global) class up c's hierarchy declares property: a field, getter or setter. */
    private static boolean declaresProperty(Class c, String property) {
        String cap = capitalize(property)
        for (Class t : Signatures.types(c)) {
            if (t != c && !isLibrary(t)) {
                continue
            }
            for (Field f : t.declaredFields) {
                if (f.name == property) {
                    return true
                }
            }
            for (Method m : t.declaredMethods) {
                if (m.name == 'get' + cap || m.name == 'is' + cap || m.name == 'set' + cap) {
                    return true
                }
            }
        }
        return false
    }

    private static String capitalize(String s) {
        return s ? s.substring(0, 1).toUpperCase() + s.substring(1) : s
    }

    /** Adds SandboxStatic's findings ([signature, site, note]) for sites the recording did not already report. */
    static void addStatic(List<List<String>> found) {
        Set<String> seen = new HashSet<String>()
        for (Finding f : FINDINGS.values()) {
            seen.add(f.site)
        }
        for (List<String> f : found) {
            if (!seen.contains(f[1])) {
                String was = currentTest
                currentTest = 'the source scan'
                record(f[0], f[1], f[2])
                currentTest = was
            }
        }
    }

    // ---- report ----

    /** Returns the findings recorded so far (outside capture), sorted by signature and site. */
    static List<Finding> findings() {
        List<Finding> out = new ArrayList<Finding>(FINDINGS.values())
        out.sort { Finding a, Finding b -> a.signature <=> b.signature ?: a.site <=> b.site }
        return out
    }

    /** Prints every signature that needs approval with its call sites, then one summary line; returns how many signatures. */
    static int report(PrintStream out) {
        List<Finding> all = findings()
        Map<String, List<Finding>> bySig = new TreeMap<String, List<Finding>>()
        for (Finding f : all) {
            List<Finding> l = bySig.get(f.signature)
            if (l == null) {
                l = []
                bySig.put(f.signature, l)
            }
            l.add(f)
        }
        for (Map.Entry<String, List<Finding>> e : bySig.entrySet()) {
            Finding first = e.value[0]
            out.println("SANDBOX ${e.key}${first.blacklisted ? ' [blacklisted: can never be approved safely]' : ''}${first.note ? ' -- ' + first.note : ''}")
            for (Finding f : e.value) {
                out.println("    at ${f.site} (${f.count}x, first in ${f.test})")
            }
        }
        if (System.getenv('RG_SANDBOX_VERBOSE')) {
            for (String a : new TreeSet<String>(ALLOWED_SITES)) {
                out.println("sandbox allowed: ${a}")
            }
        }
        Set<String> ran = new HashSet<String>()
        for (String a : ALLOWED_SITES) {
            ran.add(a.substring(a.lastIndexOf(' @ ') + 3))
        }
        for (Finding f : all) {
            if (f.test != 'the source scan') {
                ran.add(f.site)
            }
        }
        Set<String> lines = SandboxStatic.callLines
        int covered = lines.count { String l -> ran.contains(l) } as int
        if (!lines.isEmpty()) {
            out.println("Sandbox: the tests ran ${covered} of the ${lines.size()} lines in vars/ and src/ that make calls; " +
                'the source scan alone checks the rest' + (System.getenv('RG_SANDBOX_VERBOSE') ? ': ' + lines.findAll { !ran.contains(it) }.join(' ') : ''))
        }
        out.println("Sandbox: ${bySig.size()} signatures need approval (${all.size()} call sites); " +
            "${ALLOWED_SITES.size()} allowed calls checked at library call sites, steps used: ${new TreeSet<String>(STEPS_USED).join(', ')}; " +
            "lists: ${signatures?.dir}")
        return bySig.size()
    }

    /** Creates a RecordingMetaClass around every metaclass Groovy creates from now on. */
    static class Handle extends MetaClassRegistry.MetaClassCreationHandle {
        @Override
        protected MetaClass createNormalMetaClass(Class theClass, MetaClassRegistry registry) {
            MetaClass mc = super.createNormalMetaClass(theClass, registry)
            return skipClass(theClass) ? mc : new RecordingMetaClass(mc)
        }
    }
}
