import io.releasegates.StepRunner

/**
 * Runs go-build-gate's checks (modverify, apidiff, smoke) on the Go module in config.dir; returns the result map
 * (status, trace_id, items) or fails with error "goBuildGate: ...". Parameters: vars/goBuildGate.txt, generated from
 * helpers/internal/gate.StepParams with resources/steps/goBuildGate.json.
 */
Map call(Map config = [:]) {
    return StepRunner.run(this, 'goBuildGate', config)
}
