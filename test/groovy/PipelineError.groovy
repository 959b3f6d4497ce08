/** PipelineError is what the harness's error step (and a failing sh) throws; tests assert its message. */
class PipelineError extends RuntimeException {
    PipelineError(String message) {
        super(message)
    }
}
