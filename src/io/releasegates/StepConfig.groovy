package io.releasegates

import com.cloudbees.groovy.cps.NonCPS

/** StepConfig validates a step's one Map argument against its defaults before anything runs. */
class StepConfig implements Serializable {
    private static final long serialVersionUID = 1L

    /**
     * Returns defaults overlaid with config, or fails the build with error "<step>: ..." when config has
     * an unknown key, misses a required key or gives a value of the wrong type.
     * Types come from the non-null defaults; types names the types of keys whose default is null.
     * A null value in config means "use the default". GStrings become Strings, so the map serializes cleanly.
     */
    static Map resolve(Object script, String step, Map defaults, Map config, List required = [], Map types = [:]) {
        String problem = problemWith(step, defaults, config ?: [:], required ?: [], types ?: [:])
        if (problem != null) {
            script.error(problem)
        }
        return merge(defaults, config ?: [:])
    }

    /** Returns the first problem with config as one actionable line, or null when there is none. */
    @NonCPS
    static String problemWith(String step, Map defaults, Map config, List required, Map types) {
        String docs = step.contains('.') ? "src/io/releasegates/${step.tokenize('.')[0]}.groovy" : "vars/${step}.txt"
        List<String> known = defaults.keySet().collect { it.toString() }.sort()
        List<String> unknown = config.keySet().collect { it.toString() }.findAll { !defaults.containsKey(it) }.sort()
        if (unknown) {
            String hint = ''
            if (unknown.size() == 1) {
                String near = nearest(unknown[0], known)
                hint = near ? " (did you mean '${near}'?)" : ''
            }
            String noun = unknown.size() == 1 ? 'parameter' : 'parameters'
            return "${step}: unknown ${noun} ${unknown.collect { "'${it}'" }.join(', ')}${hint}; " +
                "known parameters: ${known.join(', ')} (see ${docs})".toString()
        }
        for (Object key : required) {
            Object v = config.containsKey(key) ? config[key] : defaults[key]
            if (v == null || (v instanceof CharSequence && v.toString().trim().isEmpty())) {
                return "${step}: parameter '${key}' is required (see ${docs})".toString()
            }
        }
        for (Map.Entry e : config.entrySet()) {
            if (e.value == null) {
                continue
            }
            Class want = defaults[e.key] != null ? typeOf(defaults[e.key]) : (Class) types[e.key]
            if (want != null && !want.isInstance(e.value) && !(want == String && e.value instanceof CharSequence)) {
                return "${step}: parameter '${e.key}' must be ${article(want.simpleName)}, got ${typeName(e.value)} " +
                    "${show(e.value)} (see ${docs})".toString()
            }
        }
        return null
    }

    /**
     * Returns the first problem of config against a step schema (resources/steps/<step>.json: params with name, type,
     * required), or null: an unknown key (naming the nearest known one), a wrong type, a missing required key.
     */
    @NonCPS
    static String problemWithSchema(String step, Map schema, Map config) {
        String docs = "vars/${step}.txt"
        Map fields = [:]
        List<String> known = []
        for (Object f : (List) schema.params) {
            fields.put(f.name.toString(), f)
            known.add(f.name.toString())
        }
        known = known.sort()
        List<String> unknown = []
        for (Object k : config.keySet()) {
            if (!fields.containsKey(k.toString())) {
                unknown.add(k.toString())
            }
        }
        unknown = unknown.sort()
        if (unknown) {
            String hint = ''
            if (unknown.size() == 1) {
                String near = nearest(unknown[0], known)
                hint = near ? " (did you mean '${near}'?)" : ''
            }
            String noun = unknown.size() == 1 ? 'parameter' : 'parameters'
            List quoted = []
            for (String u : unknown) {
                quoted.add("'${u}'".toString())
            }
            return "${step}: unknown ${noun} ${quoted.join(', ')}${hint}; known parameters: ${known.join(', ')} (see ${docs})".toString()
        }
        for (String k : known) {
            Map f = (Map) fields[k]
            Object v = config[k]
            if (v == null) {
                continue
            }
            String want = f.type.toString()
            String elem = f.elem ? f.elem.toString() : ''
            if (!hasType(v, want) || (want == 'list' && elem && !elementsHaveType((List) v, elem))) {
                String wanted = want == 'list' && elem ? "${groovyType(want)} of ${groovyType(elem)}s" : groovyType(want)
                return "${step}: parameter '${k}' must be ${article(wanted)}, got ${typeName(v)} ${show(v)} (see ${docs})".toString()
            }
            if (want == 'map' && elem) {
                String bad = keyOfBadValue((Map) v, elem)
                if (bad != null) {
                    return "${step}: parameter '${k}' must map names to strings; '${bad}' is not one (see ${docs})".toString()
                }
            }
        }
        // As Go's params.Decode: after the types, the required keys in declaration order; a value left to its default
        // counts, and a blank String, an empty List or an empty Map is missing.
        for (Object f : (List) schema.params) {
            String k = f.name.toString()
            Object v = config[k] != null ? config[k] : f['default']
            if (f.required && isEmptyValue(v)) {
                return "${step}: parameter '${k}' is required (see ${docs})".toString()
            }
            String unless = f.requiredUnless ? f.requiredUnless.toString() : ''
            if (unless && fields.containsKey(unless) && isEmptyValue(v)) {
                Object u = config[unless] != null ? config[unless] : ((Map) fields[unless])['default']
                if (isEmptyValue(u) || u == false) {
                    return "${step}: parameter '${k}' is required unless '${unless}' is set (see ${docs})".toString()
                }
            }
        }
        return null
    }

    /** Reports whether v is what Go's params.Decode counts as missing: null, a blank String, an empty List or Map. */
    @NonCPS
    static boolean isEmptyValue(Object v) {
        if (v == null) {
            return true
        }
        if (v instanceof CharSequence) {
            return v.toString().trim().isEmpty()
        }
        if (v instanceof Collection) {
            return ((Collection) v).isEmpty()
        }
        if (v instanceof Map) {
            return ((Map) v).isEmpty()
        }
        return false
    }

    /** Reports whether every element of list has the schema element type elem. */
    @NonCPS
    static boolean elementsHaveType(List list, String elem) {
        for (Object e : list) {
            if (!hasElemType(e, elem)) {
                return false
            }
        }
        return true
    }

    /** Returns the first key of m whose value lacks the schema element type elem, or null. */
    @NonCPS
    static String keyOfBadValue(Map m, String elem) {
        for (Map.Entry e : m.entrySet()) {
            if (!hasElemType(e.value, elem)) {
                return String.valueOf(e.key)
            }
        }
        return null
    }

    /**
     * Reports whether an element has the schema element type elem; 'string' takes any scalar (String, number, Boolean,
     * null), which Go keeps as its text, as Groovy's toString() would.
     */
    @NonCPS
    static boolean hasElemType(Object e, String elem) {
        if (elem == 'string') {
            return e == null || e instanceof CharSequence || e instanceof Number || e instanceof Boolean
        }
        return e == null || hasType(e, elem)
    }

    /** Returns noun with its indefinite article ("an Integer", "a List"), as Go's params.Article. */
    @NonCPS
    static String article(String noun) {
        return ('AEIOUaeiou'.indexOf(noun.substring(0, 1)) >= 0 ? 'an ' : 'a ') + noun
    }

    /** Reports whether v has the schema type want (string, boolean, integer, list, map). */
    @NonCPS
    static boolean hasType(Object v, String want) {
        switch (want) {
            case 'string': return v instanceof CharSequence
            case 'boolean': return v instanceof Boolean
            case 'integer': return v instanceof Integer || v instanceof Long || v instanceof BigInteger
            case 'list': return v instanceof List
            case 'map': return v instanceof Map
            default: return true
        }
    }

    /** Returns the Groovy name of a schema type, as the help pages use it. */
    @NonCPS
    static String groovyType(String t) {
        Map names = [string: 'String', boolean: 'Boolean', integer: 'Integer', list: 'List', map: 'Map']
        return names[t] ?: t
    }

    /** Returns the Groovy type name of a value, for error messages. */
    @NonCPS
    static String typeName(Object v) {
        if (v instanceof CharSequence) {
            return 'String'
        }
        if (v instanceof Boolean) {
            return 'Boolean'
        }
        if (v instanceof Integer || v instanceof Long || v instanceof BigInteger) {
            return 'Integer'
        }
        if (v instanceof Number) {
            return 'Number'
        }
        if (v instanceof List) {
            return 'List'
        }
        if (v instanceof Map) {
            return 'Map'
        }
        return v.getClass().getSimpleName()
    }

    /** Returns a short rendering of a value for error messages (strings quoted, long values cut). */
    @NonCPS
    static String show(Object v) {
        String s = v instanceof CharSequence ? "'${v}'".toString() : String.valueOf(v)
        return s.length() > 80 ? s.substring(0, 80) + '...' : s
    }

    /** Returns the closest known key to key when it is a plausible typo, else null. */
    @NonCPS
    static String nearest(String key, List<String> known) {
        String best = null
        int bestDistance = Integer.MAX_VALUE
        for (String k : known) {
            int d = distance(key.toLowerCase(), k.toLowerCase())
            if (d < bestDistance) {
                best = k
                bestDistance = d
            }
        }
        int limit = Math.max(2, (int) (key.length() / 3))
        return bestDistance <= limit ? best : null
    }

    @NonCPS
    private static int distance(String a, String b) {
        List prev = []
        for (int j = 0; j <= b.length(); j++) {
            prev.add(j)
        }
        for (int i = 1; i <= a.length(); i++) {
            List cur = [i]
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1
                cur.add(Math.min(Math.min((int) cur[j - 1] + 1, (int) prev[j] + 1), (int) prev[j - 1] + cost))
            }
            prev = cur
        }
        return (int) prev[b.length()]
    }

    @NonCPS
    private static Class typeOf(Object v) {
        if (v instanceof CharSequence) {
            return String
        }
        if (v instanceof Boolean) {
            return Boolean
        }
        if (v instanceof Number) {
            return Number
        }
        if (v instanceof List) {
            return List
        }
        if (v instanceof Map) {
            return Map
        }
        return v.getClass()
    }

    @NonCPS
    private static Map merge(Map defaults, Map config) {
        Map out = [:]
        for (Map.Entry e : defaults.entrySet()) {
            Object v = config.containsKey(e.key) && config[e.key] != null ? config[e.key] : e.value
            out.put(e.key.toString(), plain(v))
        }
        return out
    }

    /** Returns v with GStrings turned into Strings and lists/maps copied, recursively. */
    @NonCPS
    static Object plain(Object v) {
        if (v instanceof CharSequence) {
            return v.toString()
        }
        if (v instanceof Map) {
            Map m = [:]
            for (Map.Entry e : ((Map) v).entrySet()) {
                m.put(e.key.toString(), plain(e.value))
            }
            return m
        }
        if (v instanceof List) {
            List l = []
            for (Object o : (List) v) {
                l.add(plain(o))
            }
            return l
        }
        return v
    }
}
