package org.jenkinsci.plugins.workflow.steps

import jenkins.model.CauseOfInterruption

/** FlowInterruptedException mirrors workflow-step-api's exception (a timeout expiring, an input aborted) for the harness. */
class FlowInterruptedException extends InterruptedException {
    /** The build result the interruption asks for, e.g. 'ABORTED' (a hudson.model.Result in Jenkins). */
    final Object result
    /** Why the flow was interrupted. */
    final List<CauseOfInterruption> causes

    FlowInterruptedException(Object result, CauseOfInterruption... causes) {
        super(causes.collect { it.shortDescription }.join('; '))
        this.result = result
        this.causes = causes as List
    }
}
