package game

import "net/url"

// joinKept is join that also returns the resume of the hello: what proves
// id on another connection (a reload, a second tab).
func (f *fixture) joinKept(room, id, name string) (*client, string) {
	f.t.Helper()
	c := f.dial(room, "client="+id+"&name="+name)
	h := c.expect("hello")
	if got := str(h.ev, "client"); got != id {
		f.t.Fatalf("%s: hello.client %q, want %q", name, got, id)
	}
	return c, str(h.ev, "resume")
}

// rejoin joins as id, proven by resume, and checks that id is granted.
func (f *fixture) rejoin(room, id, name, resume string) *client {
	f.t.Helper()
	c := f.dial(room, "client="+id+"&name="+name+"&resume="+url.QueryEscape(resume))
	if got := str(c.expect("hello").ev, "client"); got != id {
		f.t.Fatalf("%s: hello.client %q with its resume, want %q", name, got, id)
	}
	return c
}
