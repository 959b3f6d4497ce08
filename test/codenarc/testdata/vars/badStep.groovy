// A deliberately bad step: test/codenarc/run.sh --self-test fails unless each marked line is reported.
import groovy.json.JsonSlurperClassic
import java.util.regex.Pattern // UnusedImport

def call(Map config = [:]) {
    Map out = new LinkedHashMap() // ExplicitLinkedHashMapInstantiation (and not sandbox-safe)
    if (config.hasProperty('x')) { // SandboxHasProperty
        echo config.inspect() // SandboxInspect
    }
    try {
        out.parsed = new JsonSlurperClassic().parseText('{}') // SandboxJsonSlurperClassic
    } catch (Exception e) { // CatchException
    }
    try {
        timeout(1) { input 'ok?' }
    } catch (org.jenkinsci.plugins.workflow.steps.FlowInterruptedException e) {
        echo "${e.causes}" // SandboxGetCauses
    }
    return out
}

class Holder implements Serializable { // SerialVersionUID missing
    String value
}
