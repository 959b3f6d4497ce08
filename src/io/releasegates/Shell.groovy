package io.releasegates

import com.cloudbees.groovy.cps.NonCPS

/** Shell builds POSIX sh command lines; every value from user input goes through quote. */
class Shell implements Serializable {
    private static final long serialVersionUID = 1L

    /** Returns s as one single-quoted POSIX sh word, safe for any content. */
    @NonCPS
    static String quote(Object s) {
        if (s == null) {
            throw new Exception('cannot shell-quote null') // Exception(String): the only exception constructor the sandbox whitelists
        }
        return "'" + s.toString().replace("'", "'\"'\"'") + "'"
    }

    /** Returns the words quoted one by one and joined with spaces; a word [env: 'NAME'] becomes "$NAME" (see envRef). */
    @NonCPS
    static String join(List words) {
        StringBuilder b = new StringBuilder()
        for (Object w : words) {
            if (b.length() > 0) {
                b.append(' ')
            }
            b.append(w instanceof Map ? envRef(((Map) w).env) : quote(w))
        }
        return b.toString()
    }

    /**
     * Returns "$NAME" (double-quoted, so the shell expands it as one word), for values only the agent knows,
     * e.g. the path withCredentials gives a file credential; name must be a plain variable name.
     */
    @NonCPS
    static String envRef(Object name) {
        if (!(name?.toString() ==~ /[A-Za-z_][A-Za-z0-9_]*/)) {
            throw new Exception("not an environment variable name: '${name}'".toString())
        }
        return '"$' + name + '"'
    }
}
