package io.releasegates

/**
 * Credentials builds the withCredentials bindings the steps share, so every step binds a signing key, its
 * password, a PKCS#11 PIN and a registry login under the same environment variable names the helpers read.
 */
class Credentials implements Serializable {
    private static final long serialVersionUID = 1L

    /** Returns the bindings of a key: the key file as keyVariable, the password as COSIGN_PASSWORD, the PIN as PKCS11_PIN (each only when its id is set). */
    static List forKey(Object script, String keyFileId, String passwordId, String pinId, String keyVariable) {
        List b = []
        if (keyFileId) {
            b.add(script.file(credentialsId: keyFileId, variable: keyVariable))
        }
        if (passwordId) {
            b.add(script.string(credentialsId: passwordId, variable: 'COSIGN_PASSWORD'))
        }
        if (pinId) {
            b.add(script.string(credentialsId: pinId, variable: 'PKCS11_PIN'))
        }
        return b
    }

    /** Returns the registry login binding (REGISTRY_USERNAME/REGISTRY_PASSWORD), or [] when id is not set. */
    static List registry(Object script, String id) {
        if (!id) {
            return []
        }
        return [script.usernamePassword(credentialsId: id, usernameVariable: 'REGISTRY_USERNAME', passwordVariable: 'REGISTRY_PASSWORD')]
    }
}
