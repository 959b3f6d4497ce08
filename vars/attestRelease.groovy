import io.releasegates.StepRunner

/**
 * Signs the release evidence verifyRelease checks: SLSA v1 provenance and (from slackApproval's result) an approval
 * attestation for the image and blobs, then appends them with the gate results to the audit ledger (release-evidence
 * run does it all); returns the combined result. Parameters: vars/attestRelease.txt, generated from
 * helpers/internal/attest.Params.
 */
Map call(Map config = [:]) {
    return StepRunner.run(this, 'attestRelease', config)
}
