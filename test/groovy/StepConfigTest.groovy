import io.releasegates.StepConfig
import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

class StepConfigTest extends PipelineTestBase {
    static final Map DEFAULTS = [dir: '.', checks: ['a', 'b'], junit: true, baseSpec: null, smokeEnv: [:]]

    String failureOf(Map config, List required = [], Map types = [:]) {
        try {
            StepConfig.resolve(loadScript(), 'demoStep', DEFAULTS, config, required, types)
        } catch (PipelineError e) {
            return e.message
        }
        fail('expected resolve to fail')
    }

    Script loadScript() {
        return new GroovyShell(this.class.classLoader, binding).parse('1')
    }

    @Test
    void itOverlaysTheConfigOnTheDefaultsAndTurnsGStringsIntoStrings() {
        String n = 'x'
        Map got = StepConfig.resolve(loadScript(), 'demoStep', DEFAULTS, [dir: "sub/${n}", baseSpec: null], [], [baseSpec: String])
        assertEquals([dir: 'sub/x', checks: ['a', 'b'], junit: true, baseSpec: null, smokeEnv: [:]], got)
        assertEquals(String, got.dir.getClass())
    }

    @Test
    void itRejectsAnUnknownKeyAndSuggestsTheNearestOne() {
        assertEquals("demoStep: unknown parameter 'basespec' (did you mean 'baseSpec'?); " +
            "known parameters: baseSpec, checks, dir, junit, smokeEnv (see vars/demoStep.txt)", failureOf([basespec: 'a.json']))
    }

    @Test
    void itNamesEveryUnknownKeyWithoutGuessingWhenThereAreSeveral() {
        assertTrue(failureOf([zzz: 1, qqq: 2]).startsWith("demoStep: unknown parameters 'qqq', 'zzz'; known parameters:"))
    }

    @Test
    void itMakesNoSuggestionWhenNothingIsClose() {
        assertTrue(failureOf([completelyDifferent: 1]).startsWith("demoStep: unknown parameter 'completelyDifferent'; known"))
    }

    @Test
    void itRequiresRequiredKeysToBeNonBlank() {
        [[:], [baseSpec: null], [baseSpec: '  ']].each { config ->
            assertEquals("demoStep: parameter 'baseSpec' is required (see vars/demoStep.txt)", failureOf(config, ['baseSpec']))
        }
    }

    @Test
    void itChecksTypesFromTheDefaultsAndFromTheTypesMap() {
        Map cases = [
            ([checks: 'a,b'])          : "demoStep: parameter 'checks' must be a List, got String 'a,b' (see vars/demoStep.txt)",
            ([junit: 'yes'])           : "demoStep: parameter 'junit' must be a Boolean, got String 'yes' (see vars/demoStep.txt)",
            ([smokeEnv: ['A=1']])      : "demoStep: parameter 'smokeEnv' must be a Map, got List [A=1] (see vars/demoStep.txt)",
            ([baseSpec: ['a.json']])   : "demoStep: parameter 'baseSpec' must be a String, got List [a.json] (see vars/demoStep.txt)",
        ]
        cases.each { config, want -> assertEquals(want, failureOf(config, [], [baseSpec: String])) }
    }
}
