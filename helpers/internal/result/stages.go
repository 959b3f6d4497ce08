package result

import (
	"bytes"
	"encoding/json"
)

// Stages holds the results of a step's stages and marshals them as one JSON object in the order they ran.
type Stages struct {
	Order   []string
	Results map[string]Result
}

// MarshalJSON writes {"<stage>": <result>, ...} in run order.
func (s Stages) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range s.Order {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(s.Results[k])
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
