package jenkins.model

/** CauseOfInterruption mirrors Jenkins core's class so steps that inspect interruptions compile outside Jenkins. */
abstract class CauseOfInterruption implements Serializable {
    /** Returns the one-line reason shown in the build log. */
    abstract String getShortDescription()
}
