package hudson

/** Stand-in for Jenkins core's hudson.AbortException, which libraryResource throws for a missing resource. */
class AbortException extends IOException {
    AbortException(String message) {
        super(message)
    }
}
