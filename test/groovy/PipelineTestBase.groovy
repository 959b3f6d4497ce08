import groovy.json.JsonSlurperClassic
import org.junit.After
import org.junit.Before
import org.junit.Rule
import org.junit.rules.TestWatcher
import org.junit.runner.Description
import org.codehaus.groovy.runtime.InvokerHelper
import sandbox.SandboxRecorder

import java.nio.file.Files
import java.util.concurrent.TimeUnit
import java.util.regex.Pattern

/**
 * PipelineTestBase runs vars/<step>.groovy as plain Groovy with the pipeline steps registered as recording
 * closures, in the style of JenkinsPipelineUnit. sh is mocked by default (see mockSh); set realSh = true
 * (or call useRealHelpers()) to run it for real in the temp workspace, e.g. against the helpers in bin/.
 */
abstract class PipelineTestBase {
    /** Repository root: $RG_REPO_ROOT, else the working directory (run.sh cds there). */
    public static final File REPO = new File(System.getenv('RG_REPO_ROOT') ?: '.').canonicalFile

    /** Directory holding the built helpers: $RG_BIN, else <repo>/bin. */
    public static final File HELPER_BIN = new File(System.getenv('RG_BIN') ?: new File(REPO, 'bin').path).canonicalFile

    /** Every step call in order: [name: 'sh', args: [...]] with GStrings as Strings and closures left out. */
    List<Map> calls = []
    /** The pipeline env; withEnv and withCredentials change it for their block; real sh gets it on top of System.getenv(). */
    Map<String, Object> env = [:]
    /** Credentials by id: a String (secret text / file content) or [username: .., password: ..]. */
    Map<String, Object> credentials = [:]
    /** libraryResource overrides by name; anything else is read from resources/. */
    Map<String, String> resources = [:]
    /** What input returns (a value, or a Closure called with the input's arguments). */
    Object inputResponse = null
    /** Run sh for real in the workspace (unless a mock matches). */
    boolean realSh = false
    /** Console text: echo, sh output, labels. */
    StringBuilder console = new StringBuilder()
    FakeBuild currentBuild
    File workspace
    /** Current directory of the dir step (null: the workspace). */
    File cwd
    Binding binding

    protected final List<List> shMocks = []
    protected final List<File> tempFiles = []
    /**
     * Every secret value a withCredentials block bound in this test (a file credential: its content). None may
     * appear in an sh script (checked at each sh), the console or a file under .release-gates/ (checked at teardown):
     * the same rule for every step test. Usernames are left out, as Jenkins leaves them unmasked by default.
     */
    protected final Set<String> boundSecrets = [] as Set

    /** Prints the console of a failed test to stderr. */
    @Rule
    public TestWatcher dumpConsoleOnFailure = new TestWatcher() {
        @Override
        protected void failed(Throwable e, Description d) {
            System.err.println("---- console of ${d.methodName} ----\n${console}---- end of console ----")
        }
    }

    @Before
    void setUpPipeline() {
        workspace = Files.createTempDirectory('rg-ws-').toFile().canonicalFile
        currentBuild = new FakeBuild()
        env = [WORKSPACE: workspace.path, BUILD_URL: currentBuild.absoluteUrl, JOB_NAME: 'demo', BUILD_NUMBER: '7']
        binding = new Binding()
        registerSteps()
        SandboxRecorder.globals(binding)
    }

    @After
    void tearDownPipeline() {
        try {
            assertNoBoundSecretLeaked()
        } finally {
            workspace?.deleteDir()
            for (File f : tempFiles) {
                f.delete()
            }
        }
    }

    /** Fails when a bound secret is in the console or in a file under any .release-gates/ directory of the workspace. */
    void assertNoBoundSecretLeaked() {
        assertNoBoundSecretIn('the console', console.toString())
        if (workspace == null || !workspace.exists()) {
            return
        }
        workspace.eachFileRecurse(groovy.io.FileType.FILES) { File f ->
            String rel = workspace.toPath().relativize(f.toPath()).toString()
            if (('/' + rel).contains('/.release-gates/') && f.length() <= 8L * 1024 * 1024) {
                assertNoBoundSecretIn(rel, f.getText('UTF-8'))
            }
        }
    }

    /** Fails when text (named where in the message) contains a value bound by withCredentials in this test. */
    void assertNoBoundSecretIn(String where, String text) {
        for (String secret : boundSecrets) {
            if (secret && text?.contains(secret)) {
                org.junit.Assert.fail("a bound secret (credential value of ${secret.length()} chars) leaked into ${where}".toString())
            }
        }
    }

    /** Loads vars/<name>.groovy bound to this test's steps. */
    Script loadStep(String name) {
        Class c
        synchronized (STEP_CLASSES) {
            c = STEP_CLASSES[name]
            if (c == null) {
                c = new GroovyShell(this.class.classLoader).parse(new File(REPO, "vars/${name}.groovy")).getClass()
                STEP_CLASSES[name] = c
            }
        }
        return InvokerHelper.createScript(c, binding)
    }

    /** Compiled vars scripts by step name; compiling once per run keeps the suite fast. */
    protected static final Map<String, Class> STEP_CLASSES = [:]

    /** Runs vars/<name>.groovy's call with config, as a Jenkinsfile's `name(config)` does. */
    Object runStep(String name, Map config = [:]) {
        return loadStep(name).call(config)
    }

    /** Makes vars/<name>.groovy callable from other steps, as Jenkins does for every vars script. */
    void registerVarsStep(String name) {
        binding.setVariable(name, { Object[] a -> loadStep(name).invokeMethod('call', a) })
    }

    /** Answers sh calls whose script matches regex: handler gets the sh args Map and returns an Integer status, a String stdout, [status:, stdout:] or null (0). */
    void mockSh(String regex, Closure handler) {
        shMocks.add(0, [Pattern.compile(regex), handler])
    }

    /** Runs sh for real with RELEASE_GATES_HELPER_DIR pointing at the built helpers. */
    void useRealHelpers() {
        realSh = true
        env.RELEASE_GATES_HELPER_DIR = HELPER_BIN.path
    }

    /** Returns the argument lists of every call to the step name. */
    List<List> callsTo(String name) {
        return calls.findAll { it.name == name }.collect { it.args as List }
    }

    /** Returns every sh call as a Map with at least script (label, returnStatus, returnStdout when given). */
    List<Map> shCalls() {
        return callsTo('sh').collect { a -> a[0] instanceof Map ? (Map) a[0] : [script: a[0]] }
    }

    /** Returns a workspace file (relative paths resolve against the dir step's directory, else the workspace). */
    File file(String path) {
        File f = new File(path)
        return f.absolute ? f : new File(cwd ?: workspace, path)
    }

    /** Returns every secret value of the registered credentials. */
    List<String> secrets() {
        List<String> out = []
        credentials.values().each { v -> v instanceof Map ? out.addAll(v.values()*.toString()) : out.add(v.toString()) }
        return out
    }

    protected void step(String name, Closure impl) {
        binding.setVariable(name, { Object[] a ->
            calls.add([name: name, args: a.findAll { !(it instanceof Closure) }.collect { plain(it) }])
            return impl.call(a)
        })
    }

    protected static Object plain(Object v) {
        if (v instanceof CharSequence) {
            return v.toString()
        }
        if (v instanceof Map) {
            return v.collectEntries { k, x -> [(k.toString()): plain(x)] }
        }
        if (v instanceof List) {
            return v.collect { plain(it) }
        }
        return v
    }

    protected static Map named(Object[] a, String key) {
        return a.length > 0 && a[0] instanceof Map ? (Map) a[0] : [(key): a.length > 0 ? a[0]?.toString() : null]
    }

    protected void registerSteps() {
        binding.setVariable('env', env)
        binding.setVariable('currentBuild', currentBuild)
        binding.setVariable('params', [:])
        step('sh') { Object[] a -> sh(named(a, 'script')) }
        step('echo') { Object[] a -> console.append(a[0]).append('\n'); null }
        step('error') { Object[] a -> throw new PipelineError(a[0].toString()) }
        step('withEnv') { Object[] a -> withEnvDo((List) a[0], (Closure) a[1]) }
        step('withCredentials') { Object[] a -> withCredentialsDo((List) a[0], (Closure) a[1]) }
        step('usernamePassword') { Object[] a -> [$class: 'usernamePassword'] + plain(a[0]) }
        step('string') { Object[] a -> [$class: 'string'] + plain(a[0]) }
        step('file') { Object[] a -> [$class: 'file'] + plain(a[0]) }
        step('readFile') { Object[] a -> file(named(a, 'file').file.toString()).getText('UTF-8') }
        step('writeFile') { Object[] a ->
            Map m = named(a, 'file')
            File f = file(m.file.toString())
            f.parentFile.mkdirs()
            f.setText(m.text.toString(), 'UTF-8')
            null
        }
        step('fileExists') { Object[] a -> file(named(a, 'file').file.toString()).exists() }
        step('readJSON') { Object[] a ->
            Map m = named(a, 'file')
            new JsonSlurperClassic().parseText(m.text != null ? m.text.toString() : file(m.file.toString()).getText('UTF-8'))
        }
        step('libraryResource') { Object[] a ->
            String name = named(a, 'resource').resource
            if (resources.containsKey(name)) {
                return resources[name]
            }
            File f = new File(REPO, "resources/${name}")
            if (!f.exists()) {
                throw new hudson.AbortException("No such library resource ${name} could be found.") // as LibraryResourceStep does
            }
            f.getText('UTF-8')
        }
        step('junit') { Object[] a -> null }
        step('archiveArtifacts') { Object[] a -> null }
        step('stash') { Object[] a -> null }
        step('unstash') { Object[] a -> null }
        step('timeout') { Object[] a -> ((Closure) a[1]).call() }
        step('input') { Object[] a -> inputResponse instanceof Closure ? ((Closure) inputResponse).call(a[0]) : inputResponse }
        step('isUnix') { Object[] a -> true }
        step('pwd') { Object[] a -> (cwd ?: workspace).path }
        step('dir') { Object[] a ->
            File saved = cwd
            cwd = file(a[0].toString())
            cwd.mkdirs()
            try {
                ((Closure) a[1]).call()
            } finally {
                cwd = saved
            }
        }
    }

    protected Object withEnvDo(List vars, Closure body) {
        Map overrides = [:]
        for (Object v : vars) {
            String s = v.toString()
            int i = s.indexOf('=')
            overrides[s.substring(0, i)] = s.substring(i + 1)
        }
        return withOverrides(overrides, body)
    }

    protected Object withCredentialsDo(List bindings, Closure body) {
        Map overrides = [:]
        List<File> secretFiles = []
        for (Object b : bindings) {
            Map m = (Map) b
            String id = m.credentialsId
            if (!credentials.containsKey(id)) {
                throw new PipelineError("Could not find credentials entry with ID '${id}'")
            }
            Object secret = credentials[id]
            switch (m.$class) {
                case 'usernamePassword':
                    overrides[m.usernameVariable] = secret.username
                    overrides[m.passwordVariable] = secret.password
                    boundSecrets.add(secret.password.toString())
                    break
                case 'string':
                    overrides[m.variable] = secret.toString()
                    boundSecrets.add(secret.toString())
                    break
                case 'file':
                    File f = File.createTempFile('rg-secret-', '.tmp')
                    f.text = secret.toString()
                    tempFiles.add(f)
                    secretFiles.add(f)
                    overrides[m.variable] = f.path
                    boundSecrets.add(secret.toString())
                    break
                default:
                    throw new PipelineError("unsupported credential binding ${m.$class}")
            }
        }
        try {
            return withOverrides(overrides, body)
        } finally {
            // As Jenkins does when the block exits, normally or not: credentials-binding's
            // AbstractOnDiskBinding.UnbinderImpl.unbind deletes the secretFiles/<dir> it wrote. Nothing after may read it.
            for (File f : secretFiles) {
                f.delete()
            }
        }
    }

    protected Object withOverrides(Map overrides, Closure body) {
        Map saved = [:]
        Set absent = [] as Set
        overrides.each { k, v ->
            if (env.containsKey(k)) {
                saved[k] = env[k]
            } else {
                absent.add(k)
            }
            env[k] = v
        }
        try {
            return body.call()
        } finally {
            saved.each { k, v -> env[k] = v }
            absent.each { env.remove(it) }
        }
    }

    protected Object sh(Map a) {
        String script = a.script.toString()
        assertNoBoundSecretIn("the script of sh${a.label ? " '${a.label}'" : ''}", script)
        assertNoBoundSecretIn('the label of an sh', a.label?.toString())
        if (a.label) {
            console.append("[sh: ${a.label}]\n")
        }
        int status = 0
        String stdout = ''
        List mock = shMocks.find { ((Pattern) it[0]).matcher(script).find() }
        if (mock != null) {
            Object r = ((Closure) mock[1]).call(a)
            if (r instanceof Integer) {
                status = (int) r
            } else if (r instanceof CharSequence) {
                stdout = r.toString()
            } else if (r instanceof Map) {
                status = (r.status ?: 0) as int
                stdout = (r.stdout ?: '').toString()
            }
        } else if (realSh) {
            List res = runReal(script)
            status = (int) res[0]
            stdout = res[1]
            console.append(res[2])
        }
        if (!a.returnStdout) {
            console.append(stdout)
        }
        if (a.returnStatus) {
            return status
        }
        if (status != 0) {
            throw new PipelineError("script returned exit code ${status}")
        }
        return a.returnStdout ? stdout : null
    }

    /** Runs script as Jenkins does (sh -xe) in the workspace; returns [status, stdout, stderr]. */
    protected List runReal(String script) {
        File out = File.createTempFile('rg-sh-out-', '.txt')
        File err = File.createTempFile('rg-sh-err-', '.txt')
        try {
            ProcessBuilder pb = new ProcessBuilder('/bin/sh', '-xe', '-c', script).directory(cwd ?: workspace)
            Map<String, String> penv = pb.environment()
            env.each { k, v -> v == null ? penv.remove(k.toString()) : penv.put(k.toString(), v.toString()) }
            pb.redirectOutput(out).redirectError(err)
            Process p = pb.start()
            if (!p.waitFor(10, TimeUnit.MINUTES)) {
                p.destroyForcibly()
                throw new PipelineError('sh did not finish within 10 minutes')
            }
            return [p.exitValue(), out.getText('UTF-8'), err.getText('UTF-8')]
        } finally {
            out.delete()
            err.delete()
        }
    }
}
