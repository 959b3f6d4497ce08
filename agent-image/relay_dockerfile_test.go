package agentimage

import (
	"path/filepath"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// relayDockerfile is the approval relay's image, built by make images beside the agent image.
var relayDockerfile = filepath.Join("..", "deploy", "relay", "Dockerfile")

func TestTheRelayDockerfilePassesTheAgentChecksForItsOneHelper(t *testing.T) {
	m := readMakefile(t)
	m.helpers = []string{"slack-approval"}
	d := parseDockerfile(t, relayDockerfile)
	for _, c := range checks {
		if c.name == "GOFLAGS, GOPROXY and GOSUMDB come from ARG defaults" {
			continue // the relay runs no go command
		}
		t.Run(c.name, func(t *testing.T) {
			if err := c.fn(d, m); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestTheRelayUsesTheAgentsPinnedBaseImagesAndRunsTheRelay(t *testing.T) {
	agent, relay := parseDockerfile(t, "Dockerfile"), parseDockerfile(t, relayDockerfile)
	for _, arg := range []string{"GO_IMAGE", "RUNTIME_IMAGE"} {
		if agent.metaArgs[arg] == "" || relay.metaArgs[arg] != agent.metaArgs[arg] {
			t.Errorf("ARG %s: relay %q, agent %q: keep both images on the same pinned base (make agent-image-pin refreshes the agent's)", arg, relay.metaArgs[arg], agent.metaArgs[arg])
		}
	}
	var entry []string
	for _, cmd := range relay.final().Commands {
		if e, ok := cmd.(*instructions.EntrypointCommand); ok {
			entry = e.CmdLine
		}
	}
	if len(entry) != 2 || entry[0] != "/usr/local/bin/slack-approval" || entry[1] != "relay" {
		t.Errorf("ENTRYPOINT = %q, want the exec form [/usr/local/bin/slack-approval relay]", entry)
	}
}
