package client

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

// sseEvent is one event of a text/event-stream, as the WHATWG HTML
// standard's "interpreting an event stream" dispatches it.
type sseEvent struct {
	ID      string // the last event ID after this event (it persists)
	HasID   bool   // this event set an id field
	Name    string // "message" when the stream named none
	Data    []byte
	Retry   int64 // milliseconds, -1 when this event set none
	Comment bool
}

// errSSETooLong is a line or an event's data beyond the reader's bound.
var errSSETooLong = errors.New("an event of the stream is larger than the client accepts")

// sseReader reads events from a text/event-stream: lines end in CR LF,
// LF or CR; "field: value" lines (one space after the colon dropped),
// comment lines start with ":", a blank line dispatches. Lines and an
// event's data are bounded by max bytes.
type sseReader struct {
	sc     *bufio.Scanner
	max    int
	lastID string
}

func newSSEReader(r io.Reader, max int) *sseReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, min(max, 64<<10)), max)
	sc.Split(splitSSELines)
	return &sseReader{sc: sc, max: max}
}

// splitSSELines splits at CR LF, LF or CR. A CR at the end of the data
// read so far waits for the next byte, which may be its LF.
func splitSSELines(data []byte, atEOF bool) (int, []byte, error) {
	for i, b := range data {
		switch b {
		case '\n':
			return i + 1, data[:i], nil
		case '\r':
			if i+1 < len(data) {
				if data[i+1] == '\n' {
					return i + 2, data[:i], nil
				}
				return i + 1, data[:i], nil
			}
			if atEOF {
				return i + 1, data[:i], nil
			}
			return 0, nil, nil // need the next byte
		}
	}
	if atEOF && len(data) > 0 {
		// A stream ending without a line break: the standard drops an
		// incomplete event, so the partial line is consumed unseen.
		return len(data), nil, io.ErrUnexpectedEOF
	}
	return 0, nil, nil
}

// Next returns the next event, comments included (Comment set): a
// comment shows the stream is alive. At the end of the stream it returns
// io.EOF (an event not followed by a blank line is dropped, as the
// standard says).
func (r *sseReader) Next() (sseEvent, error) {
	ev := sseEvent{Retry: -1}
	var data bytes.Buffer
	hasData := false
	for r.sc.Scan() {
		line := r.sc.Bytes()
		if len(line) == 0 {
			if !hasData && ev.Name == "" && !ev.HasID && ev.Retry < 0 {
				continue // nothing to dispatch
			}
			ev.ID = r.lastID
			if ev.Name == "" {
				ev.Name = "message"
			}
			ev.Data = bytes.Clone(data.Bytes())
			return ev, nil
		}
		if line[0] == ':' {
			if !hasData && ev.Name == "" && !ev.HasID && ev.Retry < 0 {
				return sseEvent{Comment: true, Retry: -1, ID: r.lastID}, nil
			}
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			ev.Name = string(value)
		case "data":
			if data.Len()+len(value)+1 > r.max {
				return sseEvent{}, errSSETooLong
			}
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				r.lastID = string(value)
				ev.HasID = true
			}
		case "retry":
			if n, err := strconv.ParseInt(string(value), 10, 64); err == nil && n >= 0 && isDigits(value) {
				ev.Retry = n
			}
		}
	}
	switch err := r.sc.Err(); {
	case errors.Is(err, bufio.ErrTooLong):
		return sseEvent{}, errSSETooLong
	case err == nil, errors.Is(err, io.ErrUnexpectedEOF):
		return sseEvent{}, io.EOF
	default:
		return sseEvent{}, err
	}
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}
