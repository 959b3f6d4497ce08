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
                return "${step}: parameter '${e.key}' must be a ${want.simpleName}, got ${e.value.getClass().simpleName} " +
                    "${e.value.inspect()} (see ${docs})".toString()
            }
        }
        return null
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
        int[] prev = new int[b.length() + 1]
        int[] cur = new int[b.length() + 1]
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost)
            }
            int[] t = prev
            prev = cur
            cur = t
        }
        return prev[b.length()]
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
        Map out = new LinkedHashMap()
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
            Map m = new LinkedHashMap()
            for (Map.Entry e : ((Map) v).entrySet()) {
                m.put(e.key.toString(), plain(e.value))
            }
            return m
        }
        if (v instanceof List) {
            List l = new ArrayList()
            for (Object o : (List) v) {
                l.add(plain(o))
            }
            return l
        }
        return v
    }
}
