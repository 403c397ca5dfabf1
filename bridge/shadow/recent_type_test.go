package shadow

import "testing"

// TestRecentEventsKeepTheirType: the FUSE view's events/ shows an entry
// by its type, so the type survives a snapshot round trip too.
func TestRecentEventsKeepTheirType(t *testing.T) {
	l := &log{t: t}
	l.put("a.txt", "a")
	l.add("task_dispatched", map[string]string{"assigned_to": "bob"})
	p := New(Options{})
	replay(t, p, l.events)
	data, err := p.MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	q := New(Options{})
	if err := q.RestoreSnapshot(data); err != nil {
		t.Fatal(err)
	}
	for name, proj := range map[string]*Projection{"live": p, "restored": q} {
		rec := proj.Recent()
		if len(rec) != 2 || rec[0].Type != TypeFileModified || rec[1].Type != "task_dispatched" {
			t.Errorf("%s ring types: %+v", name, rec)
		}
	}
}
