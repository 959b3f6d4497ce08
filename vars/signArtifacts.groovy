import io.releasegates.StepRunner

/**
 * Signs config.files and config.images, verifies every signature and archives them (sign-artifacts run does the whole
 * flow); returns the combined result map. Parameters: vars/signArtifacts.txt, generated from
 * helpers/internal/signing.Params with resources/steps/signArtifacts.json.
 */
Map call(Map config = [:]) {
    return StepRunner.run(this, 'signArtifacts', config)
}
