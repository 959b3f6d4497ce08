package params_test

import (
	"fmt"

	"github.com/release-gates/release-gates/helpers/internal/params"
)

// Deploy is a step's Params struct: one field per Jenkinsfile key, with its default and doc.
type Deploy struct {
	Image    string   `json:"image" required:"true" doc:"image to deploy."`
	Replicas int      `json:"replicas" default:"2" doc:"pods to run."`
	Regions  []string `json:"regions" default:"[\"eu\"]" doc:"regions to deploy to."`
}

// Validate names the Jenkinsfile key of a broken rule.
func (d *Deploy) Validate() error {
	if d.Replicas < 1 {
		return fmt.Errorf("replicas must be at least 1; got %d", d.Replicas)
	}
	return nil
}

func Example() {
	doc, _ := params.Parse([]byte(`{"step":"deploy","params":{"image":"r/app@sha256:ab","regions":null},"context":{"traceId":"rg-1"},"secrets":{}}`))
	var d Deploy
	fmt.Println(doc.Decode(&d), d.Image, d.Replicas, d.Regions)

	bad, _ := params.Parse([]byte(`{"step":"deploy","params":{"image":"r/app","replica":3}}`))
	fmt.Println(bad.Decode(&Deploy{}))
	// Output:
	// <nil> r/app@sha256:ab 2 [eu]
	// unknown parameter 'replica' (did you mean 'replicas'?); known parameters: image, regions, replicas
}
