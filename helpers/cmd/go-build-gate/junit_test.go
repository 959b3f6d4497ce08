package main

import (
	"encoding/xml"
	"os"
	"testing"
)

// readJUnit returns testcase name -> "" (passed), "failure" or "error".
func readJUnit(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("junit not written: %v", err)
	}
	var doc struct {
		Suites []struct {
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
				Error   *struct{} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("junit is not XML: %v", err)
	}
	out := map[string]string{}
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			switch {
			case c.Failure != nil:
				out[c.Name] = "failure"
			case c.Error != nil:
				out[c.Name] = "error"
			default:
				out[c.Name] = ""
			}
		}
	}
	return out
}
