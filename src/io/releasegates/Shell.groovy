package io.releasegates

import com.cloudbees.groovy.cps.NonCPS

/** Shell builds POSIX sh command lines; every value from user input goes through quote. */
class Shell implements Serializable {
    private static final long serialVersionUID = 1L

    /** Returns s as one single-quoted POSIX sh word, safe for any content. */
    @NonCPS
    static String quote(Object s) {
        if (s == null) {
            throw new IllegalArgumentException('cannot shell-quote null')
        }
        return "'" + s.toString().replace("'", "'\"'\"'") + "'"
    }

    /** Returns the words quoted one by one and joined with spaces. */
    @NonCPS
    static String join(List words) {
        StringBuilder b = new StringBuilder()
        for (Object w : words) {
            if (b.length() > 0) {
                b.append(' ')
            }
            b.append(quote(w))
        }
        return b.toString()
    }
}
