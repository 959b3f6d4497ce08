import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/**
 * CredentialHarnessTest checks that PipelineTestBase is at least as strict as Jenkins about bound credentials: a file
 * credential is gone once its withCredentials block exits, and a bound secret in an sh script, the console or a file
 * under .release-gates/ fails the test (Jenkins would only mask the console; the harness refuses all three).
 */
class CredentialHarnessTest extends PipelineTestBase {
    static final String SECRET = 'harness-s3cret-value'

    private Object bind(List bindings, Closure body) {
        return binding.getVariable('withCredentials').call(bindings, body)
    }

    private static Map fileBinding() { [$class: 'file', credentialsId: 'key', variable: 'KEY_FILE'] }

    private static Map stringBinding() { [$class: 'string', credentialsId: 'pw', variable: 'PW'] }

    @Test
    void itDeletesAFileCredentialWhenItsBlockExits() {
        credentials['key'] = SECRET
        String path = null
        bind([fileBinding()]) {
            path = env.KEY_FILE
            assertEquals(SECRET, new File(path).text)
        }
        assertFalse('the file credential outlived its withCredentials block', new File(path).exists())
        assertFalse(env.containsKey('KEY_FILE'))
    }

    @Test
    void itDeletesAFileCredentialWhenItsBlockFails() {
        credentials['key'] = SECRET
        String path = null
        try {
            bind([fileBinding()]) {
                path = env.KEY_FILE
                throw new PipelineError('helper failed')
            }
            fail('the error was swallowed')
        } catch (PipelineError e) {
            assertEquals('helper failed', e.message)
        }
        assertFalse('the file credential outlived a failed withCredentials block', new File(path).exists())
    }

    @Test
    void itRefusesAnShWhoseScriptHoldsABoundSecret() {
        credentials['pw'] = SECRET
        try {
            bind([stringBinding()]) {
                binding.getVariable('sh').call(label: 'login', script: "helper --password ${env.PW}")
            }
            fail('an interpolated secret reached sh')
        } catch (AssertionError e) {
            assertTrue(e.message, e.message.contains("the script of sh 'login'"))
            assertFalse('the message must not repeat the secret', e.message.contains(SECRET))
        }
        assertTrue(shCalls().size() == 1)
    }

    @Test
    void itAcceptsAnShThatReadsTheSecretFromItsVariable() {
        credentials['pw'] = SECRET
        bind([stringBinding()]) {
            binding.getVariable('sh').call(label: 'login', script: 'printf %s "$PW" | helper --password-stdin')
        }
        assertNoBoundSecretLeaked()
    }

    @Test
    void itFailsWhenTheConsoleHoldsABoundSecret() {
        credentials['pw'] = SECRET
        bind([stringBinding()]) {
            binding.getVariable('echo').call("debug: ${env.PW}")
        }
        try {
            assertNoBoundSecretLeaked()
            fail('a bound secret in the console was not caught')
        } catch (AssertionError e) {
            assertTrue(e.message, e.message.contains('the console'))
        }
        console = new StringBuilder() // the leak is what this test is about; let teardown pass
    }

    @Test
    void itFailsWhenAFileUnderReleaseGatesHoldsABoundSecretFileCredential() {
        credentials['key'] = "-----BEGIN PRIVATE KEY-----\n${SECRET}\n-----END PRIVATE KEY-----\n".toString()
        bind([fileBinding()]) {
            binding.getVariable('writeFile').call(file: 'sub/.release-gates/step-params.json', text: "{\"key\": \"${new File(env.KEY_FILE).text}\"}")
        }
        try {
            assertNoBoundSecretLeaked()
            fail('a bound secret in a params file was not caught')
        } catch (AssertionError e) {
            assertTrue(e.message, e.message.contains('sub/.release-gates/step-params.json'))
        }
        file('sub/.release-gates/step-params.json').delete()
    }

    @Test
    void itLeavesUnboundCredentialsAndUsernamesOutOfTheCheck() {
        credentials['unused'] = 'never-bound-value'
        credentials['registry'] = [username: 'ci-bot', password: 'registry-t0ken']
        bind([[$class: 'usernamePassword', credentialsId: 'registry', usernameVariable: 'U', passwordVariable: 'P']]) {
            binding.getVariable('echo').call("logging in as ${env.U}")
        }
        binding.getVariable('echo').call('never-bound-value')
        assertNoBoundSecretLeaked()
        assertEquals(['registry-t0ken'] as Set, boundSecrets)
    }
}
