package org.jenkinsci.plugins.scriptsecurity.sandbox

/** RejectedAccessException mirrors script-security's exception, which the sandbox recorder throws under RG_SANDBOX=reject. */
class RejectedAccessException extends SecurityException {
    /** The signature that would need approval, e.g. "new java.util.LinkedHashMap". */
    final String signature

    RejectedAccessException(String signature) {
        super("Scripts not permitted to use ${signature}".toString())
        this.signature = signature
    }
}
