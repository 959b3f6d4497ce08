package sandbox

import groovy.transform.CompileStatic

import java.lang.reflect.Constructor
import java.lang.reflect.Field
import java.lang.reflect.Method
import java.lang.reflect.Modifier

/**
 * Signatures loads Jenkins script-security's stock lists (generic-whitelist, jenkins-whitelist, blacklist) and picks the
 * JVM member a sandboxed Groovy call reaches, the way script-security's GroovyCallSiteSelector does: the most general
 * declaration wins (supertypes are searched first, so `method java.util.Collection add java.lang.Object` covers an
 * ArrayList), a GString argument fits a String parameter, and a signature names the declaring class exactly
 * (EnumeratingWhitelist.MethodSignature.matches). The lists are read where they are, never copied into the repo.
 */
@CompileStatic
class Signatures {
    /** Default location of the lists: $RG_SCRIPT_SECURITY_DIR, else the first shared/jenkins/script-security above the repo. */
    static File defaultDir(File repo) {
        String env = System.getenv('RG_SCRIPT_SECURITY_DIR')
        if (env) {
            return new File(env)
        }
        for (File d = repo.canonicalFile; d != null; d = d.parentFile) {
            File c = new File(d, 'shared/jenkins/script-security')
            if (new File(c, 'generic-whitelist').isFile()) {
                return c
            }
        }
        return new File(repo.canonicalFile.parentFile, 'shared/jenkins/script-security')
    }

    final Set<String> allowed = new HashSet<String>()
    final Set<String> blacklisted = new HashSet<String>()
    final File dir

    Signatures(File dir) {
        this.dir = dir
        for (String name : ['generic-whitelist', 'jenkins-whitelist']) {
            read(new File(dir, name), allowed)
        }
        read(new File(dir, 'blacklist'), blacklisted)
    }

    private static void read(File f, Set<String> into) {
        if (!f.isFile()) {
            throw new FileNotFoundException("${f} is missing: it is script-security's stock list " +
                '(jenkinsci/script-security-plugin src/main/resources/org/jenkinsci/plugins/scriptsecurity/sandbox/whitelists/); ' +
                'set RG_SCRIPT_SECURITY_DIR to the directory that holds generic-whitelist, jenkins-whitelist and blacklist')
        }
        for (String raw : f.readLines('UTF-8')) {
            int hash = raw.indexOf('#')
            String line = (hash >= 0 ? raw.substring(0, hash) : raw).trim().replaceAll(/\s+/, ' ')
            if (line) {
                into.add(line)
            }
        }
    }

    /** Reports whether sig (e.g. "method java.lang.String trim") is whitelisted, also through a "*" member name. */
    boolean permits(String sig) {
        return allowed.contains(sig) || allowed.contains(wildcard(sig))
    }

    /** Reports whether sig is in the blacklist (script-security says it can never be approved safely). */
    boolean isBlacklisted(String sig) {
        return blacklisted.contains(sig) || blacklisted.contains(wildcard(sig))
    }

    private static String wildcard(String sig) {
        String[] w = sig.split(' ')
        if (w.length >= 3 && w[0] != 'new') {
            w[2] = '*'
        }
        return w.join(' ')
    }

    // ---- signature strings, as StaticWhitelist writes them ----

    static String name(Class c) {
        return c.isArray() ? name(c.componentType) + '[]' : c.name
    }

    static String method(Method m) {
        return (Modifier.isStatic(m.modifiers) ? 'staticMethod ' : 'method ') + name(m.declaringClass) + ' ' + m.name + params(m.parameterTypes)
    }

    static String constructor(Constructor c) {
        return 'new ' + name(c.declaringClass) + params(c.parameterTypes)
    }

    static String field(Field f) {
        return (Modifier.isStatic(f.modifiers) ? 'staticField ' : 'field ') + name(f.declaringClass) + ' ' + f.name
    }

    static String params(Class[] types) {
        StringBuilder b = new StringBuilder()
        for (Class t : types) {
            b.append(' ').append(name(t))
        }
        return b.toString()
    }

    static String argTypes(Object[] args) {
        StringBuilder b = new StringBuilder()
        for (Object a : args) {
            b.append(' ').append(a == null ? 'null' : name(a.getClass()))
        }
        return b.toString()
    }

    // ---- call-site selection (script-security's GroovyCallSiteSelector semantics) ----

    /** Returns the most general method named name that accepts args on receiver's class or any supertype, or null. */
    static Method method(Object receiver, String name, Object[] args) {
        for (Class c : types(receiver.getClass())) {
            Method m = findMatching(c, name, args)
            if (m != null) {
                return m
            }
        }
        if (receiver instanceof GString) {
            return findMatching(String, name, args)
        }
        return null
    }

    /** Returns the static (or any) method named name declared by c that accepts args, or null. */
    static Method staticMethod(Class c, String name, Object[] args) {
        return findMatching(c, name, args)
    }

    /** Returns the constructor of c that accepts args (or the no-arg one for Groovy's map constructor), or null. */
    static Constructor constructor(Class c, Object[] args) {
        Constructor best = null
        for (Constructor k : c.declaredConstructors) {
            if (matches(k.parameterTypes, args, k.isVarArgs()) && (best == null || moreSpecific(k.parameterTypes, k.isVarArgs(), best.parameterTypes, best.isVarArgs()))) {
                best = k
            }
        }
        if (best == null && args.length == 1 && args[0] instanceof Map) {
            for (Constructor k : c.declaredConstructors) {
                if (k.parameterTypes.length == 0) {
                    return k
                }
            }
        }
        return best
    }

    /** Returns the field named name on receiver's class or a supertype (most general first), or null. */
    static Field field(Object receiver, String name) {
        for (Class c : types(receiver.getClass())) {
            for (Field f : c.declaredFields) {
                if (f.name == name) {
                    return f
                }
            }
        }
        return null
    }

    /** Returns the field named name declared by c, or null. */
    static Field staticField(Class c, String name) {
        for (Field f : c.declaredFields) {
            if (f.name == name) {
                return f
            }
        }
        return null
    }

    /** Returns c and all its supertypes, supertypes first (GroovyCallSiteSelector.visitTypes). */
    static List<Class> types(Class c) {
        Set<Class> out = new LinkedHashSet<Class>()
        visit(out, c)
        return new ArrayList<Class>(out)
    }

    private static void visit(Set<Class> out, Class c) {
        if (c.superclass != null) {
            visit(out, c.superclass)
        }
        for (Class i : c.interfaces) {
            visit(out, i)
        }
        out.add(c)
    }

    private static Method findMatching(Class c, String name, Object[] args) {
        Method best = null
        Method[] declared
        try {
            declared = c.declaredMethods
        } catch (Throwable ignored) {
            return null
        }
        for (Method m : declared) {
            if (m.name == name && !m.isSynthetic() && matches(m.parameterTypes, args, m.isVarArgs()) &&
                (best == null || moreSpecific(m.parameterTypes, m.isVarArgs(), best.parameterTypes, best.isVarArgs()))) {
                best = m
            }
        }
        return best
    }

    private static boolean matches(Class[] types, Object[] args, boolean varargs) {
        Object[] a = args
        if (varargs) {
            int fixed = types.length - 1
            if (a.length == types.length && (a[fixed] == null || types[fixed].isInstance(a[fixed]))) {
                // not spread: the last argument is already the array
            } else if (a.length >= fixed) {
                Class comp = wrap(types[fixed].componentType)
                for (int i = fixed; i < a.length; i++) {
                    if (a[i] != null && !comp.isInstance(a[i]) && !(comp == String && a[i] instanceof GString)) {
                        return false
                    }
                }
                Object[] b = new Object[types.length]
                System.arraycopy(a, 0, b, 0, fixed)
                b[fixed] = java.lang.reflect.Array.newInstance(types[fixed].componentType, 0)
                a = b
            }
        }
        if (a.length != types.length) {
            return false
        }
        for (int i = 0; i < types.length; i++) {
            Object v = a[i]
            Class t = types[i]
            if (v == null) {
                if (t.isPrimitive()) {
                    return false
                }
                continue
            }
            if (t.isInstance(v) || (t.isPrimitive() && wideningFits(wrap(t), v)) || (t == String && v instanceof GString)) {
                continue
            }
            return false
        }
        return true
    }

    private static boolean wideningFits(Class boxed, Object v) {
        if (boxed.isInstance(v)) {
            return true
        }
        if (boxed == Long && v instanceof Integer) {
            return true
        }
        if (boxed == Integer && v instanceof Long) {
            long n = (Long) v
            return n >= Integer.MIN_VALUE && n <= Integer.MAX_VALUE
        }
        return false
    }

    private static boolean moreSpecific(Class[] more, boolean moreVar, Class[] less, boolean lessVar) {
        if (lessVar && !moreVar) {
            return true
        }
        if (!lessVar && moreVar) {
            return false
        }
        if (more.length != less.length) {
            return false
        }
        for (int i = 0; i < more.length; i++) {
            Class m = wrap(more[i])
            Class l = wrap(less[i])
            if (m.isAssignableFrom(l) && m != l) {
                return false
            } else if (l.isAssignableFrom(m) && m != l) {
                return true
            }
        }
        return false
    }

    static Class wrap(Class c) {
        if (!c.isPrimitive()) {
            return c
        }
        switch (c) {
            case int: return Integer
            case long: return Long
            case boolean: return Boolean
            case double: return Double
            case float: return Float
            case char: return Character
            case byte: return Byte
            case short: return Short
            default: return Void
        }
    }
}
