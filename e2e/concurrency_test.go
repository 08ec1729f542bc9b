package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// parallel sends n requests at once (made by mk) and returns the answers
// in order.
func parallel(t *testing.T, s *testserver.Server, n int, mk func(i int) *http.Request) []*testserver.Resp {
	t.Helper()
	reqs := make([]*http.Request, n)
	for i := range reqs {
		reqs[i] = mk(i)
	}
	out := make([]*testserver.Resp, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Go(func() {
			<-start
			out[i], errs[i] = s.Try(reqs[i])
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// statusCount tallies answers by status.
func statusCount(rs []*testserver.Resp) map[int]int {
	c := map[int]int{}
	for _, r := range rs {
		c[r.Status]++
	}
	return c
}

// TestConcurrentWrites: simultaneous writers neither fail with 500 (a busy
// SQLite, a unique violation surfacing raw) nor both win a race.
func TestConcurrentWrites(t *testing.T) { forEachDialect(t, testConcurrentWrites) }

func testConcurrentWrites(t *testing.T, s *testserver.Server) {
	root := s.RootToken
	grp := s.CreateGroup(t, "busy", 0, "private")

	t.Run("distinct projects", func(t *testing.T) {
		const n = 16
		rs := parallel(t, s, n, func(i int) *http.Request {
			return s.NewRequest(t, "POST", api+"/projects", root, url.Values{"name": {fmt.Sprintf("p%d", i)}, "namespace_id": {testserver.Itoa(grp)}})
		})
		if c := statusCount(rs); c[http.StatusCreated] != n {
			for _, r := range rs {
				if r.Status != http.StatusCreated {
					t.Errorf("%s: %d %s", r.Req, r.Status, r.Body)
				}
			}
		}
		r := s.Expect(t, "GET", api+"/groups/"+testserver.Itoa(grp)+"/projects", root, nil, http.StatusOK)
		if got := r.Header.Get("X-Total"); got != fmt.Sprint(n) {
			t.Errorf("X-Total %s after %d creations", got, n)
		}
	})

	t.Run("same group path", func(t *testing.T) {
		rs := parallel(t, s, 8, func(int) *http.Request {
			return s.NewRequest(t, "POST", api+"/groups", root, url.Values{"name": {"Dup"}, "path": {"dup"}})
		})
		c := statusCount(rs)
		if c[http.StatusCreated] != 1 || c[http.StatusBadRequest] != 7 {
			t.Errorf("statuses %v, want one 201 and seven 400", c)
		}
		for _, r := range rs {
			if r.Status == http.StatusBadRequest {
				checkJSON(t, r, `{"message":{"path":["has already been taken"]}}`)
			} else if r.Status != http.StatusCreated {
				t.Errorf("%s: %d %s", r.Req, r.Status, r.Body)
			}
		}
	})

	t.Run("same username", func(t *testing.T) {
		// Distinct emails: only the username collides.
		rs := parallel(t, s, 8, func(i int) *http.Request {
			return s.NewRequest(t, "POST", api+"/users", root, url.Values{"username": {"twin"}, "name": {"Twin"}, "email": {fmt.Sprintf("twin%d@example.com", i)}})
		})
		if c := statusCount(rs); c[http.StatusCreated] != 1 || c[http.StatusConflict] != 7 {
			t.Errorf("statuses %v, want one 201 and seven 409", c)
		}
		for _, r := range rs {
			if r.Status == http.StatusConflict {
				checkJSON(t, r, `{"message":"Username has already been taken"}`)
			}
		}
	})

	t.Run("same member", func(t *testing.T) {
		u := s.CreateUser(t, "joiner")
		pid := s.CreateProject(t, grp, "target", "private").ID
		rs := parallel(t, s, 8, func(int) *http.Request {
			return s.NewRequest(t, "POST", api+"/projects/"+testserver.Itoa(pid)+"/members", root, url.Values{"user_id": {testserver.Itoa(u.ID)}, "access_level": {"30"}})
		})
		c := statusCount(rs)
		if c[http.StatusCreated] != 1 || c[http.StatusConflict] != 7 {
			t.Errorf("statuses %v, want one 201 and seven 409", c)
		}
		for _, r := range rs {
			if r.Status == http.StatusConflict {
				checkJSON(t, r, `{"message":"Member already exists"}`)
			}
		}
	})

	t.Run("first use of a token", func(t *testing.T) {
		// Every request of a new token wants to record last_used_at.
		u := s.CreateUser(t, "reader")
		rs := parallel(t, s, 16, func(int) *http.Request { return s.NewRequest(t, "GET", api+"/user", u.Token, nil) })
		if c := statusCount(rs); c[http.StatusOK] != 16 {
			t.Errorf("statuses %v, want sixteen 200", c)
		}
	})
}
