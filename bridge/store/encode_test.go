package store

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// The writer splices pre-encoded parts instead of marshalling the whole
// event; the stored bytes must be exactly json.Marshal's without HTML
// escaping (marshalPlain).
func TestEncodedMatchesMarshal(t *testing.T) {
	ts := time.Date(2026, 11, 26, 18, 30, 0, 123456000, time.UTC)
	for _, e := range []Event{
		{Type: "t"},
		{Type: "file_modified", AggregateID: "src/a.go", AgentID: "bench", Data: json.RawMessage(`{"path": "src/a.go",  "n": [1, 2]}`)},
		{Type: "x", AggregateID: "a<b>&c", AggregateType: "kind \"q\"", AgentID: "é", Data: json.RawMessage(`"<html>"`), Metadata: json.RawMessage(`{"k": "v"}`)},
		{Type: "y", Data: json.RawMessage(`null`), Metadata: json.RawMessage(`{}`)},
	} {
		var p encoded
		if err := p.encode(&e); err != nil {
			t.Fatal(err)
		}
		e.Sequence, e.Timestamp = 18446744073709551615, ts
		tsJSON, _ := ts.MarshalJSON()
		got := p.value(e.Sequence, tsJSON)
		want, err := marshalPlain(e)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("spliced value differs from json.Marshal:\n got %s\nwant %s", got, want)
		}
		if bytes.Contains(got, []byte(`\u003c`)) {
			t.Errorf("escaped for HTML: %s", got)
		}
		var back Event
		if err := json.Unmarshal(got, &back); err != nil || back.ID != e.ID || back.Sequence != e.Sequence {
			t.Errorf("value does not decode back: %v %+v", err, back)
		}
	}
	var p encoded
	if err := p.encode(&Event{Type: "t", Data: json.RawMessage(`{bad`)}); err == nil {
		t.Fatal("invalid data was encoded")
	}
}
