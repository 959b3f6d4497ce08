package org.jenkinsci.plugins.workflow.steps

import jenkins.model.CauseOfInterruption

/** TimeoutStepExecution mirrors workflow-basic-steps' class for its ExceededTimeout cause, which the harness's timeout throws. */
class TimeoutStepExecution {
    /** ExceededTimeout is the cause a timeout step's expiry carries. */
    static final class ExceededTimeout extends CauseOfInterruption {
        @Override
        String getShortDescription() {
            return 'Timeout has been exceeded'
        }
    }
}
