package client

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func readAll(src string, max int) ([]sseEvent, error) {
	r := newSSEReader(strings.NewReader(src), max)
	var out []sseEvent
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
}

func TestSSEReader(t *testing.T) {
	evs, err := readAll(": comment\r\n\r\nid: 7\revent: note\ndata: a\ndata:b\ndata\nretry: 250\n\nid\x00: x\ndata: after\r\n\ndata: cut", 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || !evs[0].Comment {
		t.Fatalf("%+v", evs)
	}
	e := evs[1]
	if e.ID != "7" || !e.HasID || e.Name != "note" || string(e.Data) != "a\nb\n" || e.Retry != 250 {
		t.Fatalf("event %+v", e)
	}
	// The id persists; the unnamed event is a message; an event not
	// ended by a blank line is dropped.
	if e := evs[2]; e.ID != "7" || e.HasID || e.Name != "message" || string(e.Data) != "after" {
		t.Fatalf("second event %+v", e)
	}
	if _, err := readAll("data: "+strings.Repeat("x", 2000)+"\n\n", 1<<10); !errors.Is(err, errSSETooLong) {
		t.Fatalf("long line: %v", err)
	}
	if _, err := readAll(strings.Repeat("data: xxxxxxxx\n", 200)+"\n", 1<<10); !errors.Is(err, errSSETooLong) {
		t.Fatalf("long data: %v", err)
	}
	if evs, _ := readAll("retry: -1\nretry: 1e3\ndata: x\n\n", 1<<10); len(evs) != 1 || evs[0].Retry != -1 {
		t.Fatalf("bad retries taken: %+v", evs)
	}
}

// FuzzSSEReader: any bytes from a server end in events or an error,
// never a panic, and nothing larger than the bound is returned.
func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{
		"id: 1\nevent: x\ndata: {}\n\n", ": c\r\n\r\n", "data: a\rdata: b\r\r", "retry: 10\n\n", "id: \x00\n\n", "\r", "data",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := newSSEReader(strings.NewReader(s), 256)
		for range len(s) + 2 {
			ev, err := r.Next()
			if err != nil {
				return
			}
			if len(ev.Data) > 256 || len(ev.Name) > 256 || len(ev.ID) > 256 {
				t.Fatalf("an event past the bound: %d %d %d", len(ev.Data), len(ev.Name), len(ev.ID))
			}
		}
		t.Fatalf("more events than bytes from %q", s)
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "7": 7 * time.Second, "-1": 0, "x": 0, "99999999999": 0, "4294967295": time.Hour,
		now.Add(90 * time.Second).Format(http1123): 90 * time.Second, now.Add(-time.Hour).Format(http1123): 0,
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("Retry-After %q = %v, want %v", v, got, want)
		}
	}
}

const http1123 = "Mon, 02 Jan 2006 15:04:05 GMT"

func TestParseContentRange(t *testing.T) {
	if f, l, n, err := parseContentRange("bytes 8-11/13"); err != nil || f != 8 || l != 11 || n != 13 {
		t.Fatalf("%d %d %d %v", f, l, n, err)
	}
	for _, v := range []string{"", "bytes 8-11/*", "bytes */13", "bytes 11-8/13", "bytes 8-13/13", "bytes +8-11/13", "items 1-2/3", "bytes 1-2/99999999999999999999"} {
		if _, _, _, err := parseContentRange(v); err == nil {
			t.Errorf("%q accepted", v)
		}
	}
}

func FuzzParseContentRange(f *testing.F) {
	f.Add("bytes 0-0/1")
	f.Fuzz(func(t *testing.T, s string) {
		first, last, total, err := parseContentRange(s)
		if err == nil && (first < 0 || last < first || total <= last) {
			t.Fatalf("%q: %d %d %d", s, first, last, total)
		}
	})
}
