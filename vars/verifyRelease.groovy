import io.releasegates.StepRunner

/**
 * Verifies a release's evidence before deploy (or, with rollback: true, finds the last release for the environment
 * whose evidence still verifies) and returns the verified digest; a deploy closure, if given, is called with it.
 * Parameters: vars/verifyRelease.txt, generated from helpers/internal/release.StepParams.
 */
String call(Map config = [:], Closure deploy = null) {
    Map verified = StepRunner.run(this, 'verifyRelease', config)
    String digest = verified.digest
    if (!digest) {
        error('verifyRelease: release-evidence passed but reported no digest; refusing to hand an unverified image to deploy')
    }
    if (deploy != null) {
        deploy.call(digest)
    }
    return digest
}
