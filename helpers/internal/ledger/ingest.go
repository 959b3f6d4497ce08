package ledger

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"strings"

	"github.com/release-gates/release-gates/helpers/internal/audit"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// FromResult turns a helper result file into one record: kind by helper (gate, sign, result), status, items in data.
func FromResult(path string) (Body, error) {
	bodies, err := FromResults(path)
	if err != nil {
		return Body{}, err
	}
	return bodies[0], nil
}

// FromResults turns a helper result file into ledger bodies: one attestation record per attestation a
// `release-evidence attest` call made (as `attest --ledger` would record it), else one record for the call.
func FromResults(path string) ([]Body, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, result.Errorf(result.ClassInput, "reading result file %s: %v", path, unwrap(err))
	}
	var r result.Result
	if err := json.Unmarshal(b, &r); err != nil || r.Helper == "" {
		return nil, result.Errorf(result.ClassInput, "%s is not a helper result file (want the JSON a helper wrote to --result-file)", path)
	}
	if r.Helper == "release-evidence" && strings.HasPrefix(r.Verb, "attest") && r.Status == result.StatusPassed {
		var out []Body
		for _, it := range r.Items {
			d := map[string]any{}
			for k, v := range it.Details {
				if k != "trace_id" && k != "subject" && k != "digest" {
					d[k] = v
				}
			}
			subject, _ := it.Details["subject"].(string)
			env, _ := it.Details["environment"].(string)
			out = append(out, Body{Kind: KindAttestation, TraceID: r.TraceID, Source: "release-evidence attest " + it.Kind,
				Status: it.Status, Environment: env, Subject: subject, Data: d})
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	kind := KindResult
	switch {
	case r.Helper == "go-build-gate":
		kind = KindGate
	case r.Helper == "sign-artifacts":
		kind = KindSign
	case r.Helper == "slack-approval":
		kind = KindApproval
	}
	items := make([]map[string]any, 0, len(r.Items))
	for _, it := range r.Items {
		m := map[string]any{"name": it.Name, "status": it.Status}
		if it.Kind != "" {
			m["kind"] = it.Kind
		}
		if it.FailureClass != "" {
			m["failure_class"] = string(it.FailureClass)
		}
		if it.Message != "" {
			m["message"] = it.Message
		}
		for _, k := range []string{"digest", "key_id", "location", "signature", "sha256"} {
			if v, ok := it.Details[k]; ok {
				m[k] = v
			}
		}
		if len(it.Details) > 0 {
			m["details"] = it.Details // non-secret by the result contract
		}
		items = append(items, m)
	}
	data := map[string]any{
		"helper": r.Helper, "version": r.Version, "message": r.Message, "exit_code": r.ExitCode,
		"started_at": r.StartedAt, "finished_at": r.FinishedAt, "duration_ms": r.DurationMS, "items": items,
	}
	if r.FailureClass != "" {
		data["failure_class"] = string(r.FailureClass)
	}
	if len(r.Data) > 0 {
		data["data"] = r.Data
	}
	// signArtifacts' combined result keeps each helper call's result under "results"; lift the signing key id.
	var combined struct {
		Results map[string]struct {
			Data map[string]any `json:"data"`
		} `json:"results"`
	}
	if _, ok := r.Data["key_id"]; !ok && json.Unmarshal(b, &combined) == nil {
		for _, sub := range combined.Results {
			if id, ok := sub.Data["key_id"].(string); ok && id != "" {
				data["data"] = map[string]any{"key_id": id}
				break
			}
		}
	}
	return []Body{{Kind: kind, TraceID: r.TraceID, Source: strings.TrimSpace(r.Helper + " " + r.Verb), Status: r.Status, Data: data}}, nil
}

// FromAudit turns slack-approval's audit lines into one approval record each.
func FromAudit(path string) ([]Body, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, result.Errorf(result.ClassInput, "reading audit file %s: %v", path, unwrap(err))
	}
	defer f.Close()
	var out []Body
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var a audit.Record
		if err := json.Unmarshal(line, &a); err != nil || !a.Event.Valid() {
			return nil, result.Errorf(result.ClassInput, "%s line %d is not a slack-approval audit record", path, n)
		}
		data := map[string]any{"event": string(a.Event)}
		for k, v := range map[string]string{"user": a.User, "by": a.By, "build_url": a.BuildURL, "input_id": a.InputID,
			"service": a.Service, "decision": a.Decision, "reason": a.Reason, "channel": a.Channel, "message_ts": a.MessageTS} {
			if v != "" {
				data[k] = v
			}
		}
		out = append(out, Body{Kind: KindApproval, Time: a.Time, TraceID: a.TraceID, Source: "slack-approval audit", Status: string(a.Event),
			Environment: a.Environment, Data: data})
	}
	if err := sc.Err(); err != nil {
		return nil, result.Errorf(result.ClassInput, "reading audit file %s: %v", path, err)
	}
	return out, nil
}
