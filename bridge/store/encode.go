package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/google/uuid"
)

// encoded is an event's stored JSON without the two fields the writer
// assigns (sequence and timestamp). Append fills it on the caller's
// goroutine, so JSON encoding and validation of the payload run in
// parallel across callers instead of on the single writer; value then
// splices the rest in a few appends. The result is byte for byte what
// json.Marshal gives for the whole Event (TestEncodedMatchesMarshal).
type encoded struct {
	id   string
	head []byte // the fields between event_id and timestamp, without braces
	tail []byte // data and metadata with the closing brace
}

// eventHead and eventTail are Event's fields on either side of the
// timestamp, with the same tags, so json.Marshal gives the same bytes.
type eventHead struct {
	Type          string `json:"event_type"`
	AggregateID   string `json:"aggregate_id,omitempty"`
	AggregateType string `json:"aggregate_type,omitempty"`
	AgentID       string `json:"agent_id,omitempty"`
}

type eventTail struct {
	Data     json.RawMessage `json:"data"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// encode assigns e's ID, defaults empty data to null and encodes the rest.
func (p *encoded) encode(e *Event) error {
	e.ID = uuid.NewString()
	if len(e.Data) == 0 {
		e.Data = json.RawMessage("null")
	}
	h, err := marshalPlain(eventHead{Type: e.Type, AggregateID: e.AggregateID, AggregateType: e.AggregateType, AgentID: e.AgentID})
	if err != nil {
		return fmt.Errorf("encode event %q: %w", e.Type, err)
	}
	t, err := marshalPlain(eventTail{Data: e.Data, Metadata: e.Metadata})
	if err != nil {
		return fmt.Errorf("encode event %q: %w", e.Type, err)
	}
	p.id, p.head, p.tail = e.ID, h[1:len(h)-1], t[1:]
	return nil
}

// value is the stored JSON of the event at seq with the JSON timestamp ts.
func (p *encoded) value(seq uint64, ts []byte) []byte {
	v := make([]byte, 0, 48+len(p.id)+len(p.head)+len(ts)+len(p.tail))
	v = append(v, `{"sequence":`...)
	v = strconv.AppendUint(v, seq, 10)
	v = append(v, `,"event_id":"`...)
	v = append(v, p.id...)
	v = append(v, `",`...)
	v = append(v, p.head...)
	v = append(v, `,"timestamp":`...)
	v = append(v, ts...)
	v = append(v, ',')
	return append(v, p.tail...)
}

// marshalPlain is json.Marshal without escaping for HTML: each '<', '>'
// and '&' would take six bytes, so an event of 1 MiB could be stored (and
// read back into memory) as 6 MiB. Event JSON is never HTML.
func marshalPlain(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
