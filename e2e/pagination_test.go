package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

func TestPagination(t *testing.T) { forEachDialect(t, testPagination) }

func testPagination(t *testing.T, s *testserver.Server) {
	root := s.RootToken
	// What root sees before: nothing on a fresh server, but count anyway.
	before, err := strconv.Atoi(s.Expect(t, "GET", api+"/projects", root, nil, http.StatusOK).Header.Get("X-Total"))
	if err != nil {
		t.Fatalf("X-Total: %v", err)
	}
	grp := s.CreateGroup(t, "many", 0, "private")
	created := map[int64]bool{}
	for i := range 25 {
		id := s.CreateProject(t, grp, fmt.Sprintf("p%02d", i), "private").ID
		created[id] = true
	}
	total := before + 25
	pages := (total + 9) / 10

	headers := func(t *testing.T, r *testserver.Resp, want map[string]string) {
		t.Helper()
		for k, v := range want {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", r.Req, k, got, v)
			}
			if _, ok := r.Header[http.CanonicalHeaderKey(k)]; !ok {
				t.Errorf("%s: no %s header", r.Req, k)
			}
		}
	}

	// Walk every page; together they hold each project exactly once.
	seen := map[int64]int{}
	var page2 *testserver.Resp
	for p := 1; p <= pages; p++ {
		r := s.Expect(t, "GET", api+"/projects?per_page=10&page="+strconv.Itoa(p), root, nil, http.StatusOK)
		items := r.List(t)
		want := min(10, total-(p-1)*10)
		if len(items) != want {
			t.Errorf("page %d: %d items, want %d", p, len(items), want)
		}
		for _, m := range items {
			seen[testserver.Num(t, m, "id")]++
		}
		if p == 2 {
			page2 = r
		}
	}
	for id := range created {
		if seen[id] != 1 {
			t.Errorf("project %d appears %d times across the pages", id, seen[id])
		}
	}
	if len(seen) != total {
		t.Errorf("%d distinct projects across the pages, want %d", len(seen), total)
	}

	headers(t, page2, map[string]string{
		"X-Total": strconv.Itoa(total), "X-Total-Pages": strconv.Itoa(pages), "X-Page": "2", "X-Per-Page": "10",
		"X-Next-Page": "3", "X-Prev-Page": "1",
	})
	links := parseLink(t, page2.Header.Get("Link"))
	wantLinks := map[string]string{"next": "3", "prev": "1", "first": "1", "last": strconv.Itoa(pages)}
	if len(links) != len(wantLinks) {
		t.Errorf("Link has rels %v, want next, prev, first, last", links)
	}
	for rel, pg := range wantLinks {
		u, err := url.Parse(links[rel])
		if err != nil || links[rel] == "" {
			t.Errorf("Link rel=%q: %q (%v)", rel, links[rel], err)
			continue
		}
		if u.Scheme+"://"+u.Host != s.URL || u.Path != api+"/projects" {
			t.Errorf("Link rel=%q: %s is not %s%s/projects", rel, u, s.URL, api)
		}
		if q := u.Query(); q.Get("page") != pg || q.Get("per_page") != "10" {
			t.Errorf("Link rel=%q: %s, want page=%s&per_page=10", rel, u, pg)
		}
	}
	// Following rel="next" gives page 3.
	next := s.MakeRequest(t, s.NewRequest(t, "GET", strings.TrimPrefix(links["next"], s.URL), root, nil), http.StatusOK)
	headers(t, next, map[string]string{"X-Page": "3"})

	// The last page has no next page.
	last := s.Expect(t, "GET", api+"/projects?per_page=10&page="+strconv.Itoa(pages), root, nil, http.StatusOK)
	headers(t, last, map[string]string{"X-Next-Page": "", "X-Prev-Page": strconv.Itoa(pages - 1), "X-Page": strconv.Itoa(pages)})
	if l := parseLink(t, last.Header.Get("Link")); l["next"] != "" || l["prev"] == "" {
		t.Errorf("last page Link: %v", l)
	}

	// A token in the query string never reappears in a Link.
	r := s.Expect(t, "GET", api+"/projects?per_page=10&page=2&private_token="+url.QueryEscape(root), "", nil, http.StatusOK)
	if strings.Contains(r.Header.Get("Link"), root) || strings.Contains(r.Header.Get("Link"), "private_token") {
		t.Errorf("Link repeats the token: %s", r.Header.Get("Link"))
	}

	// Filters keep counting right: a search matching p00..p09.
	r = s.Expect(t, "GET", api+"/projects?search=p0&per_page=4&page=3", root, nil, http.StatusOK)
	headers(t, r, map[string]string{"X-Total": "10", "X-Total-Pages": "3", "X-Next-Page": "", "X-Prev-Page": "2"})
	if n := len(r.List(t)); n != 2 {
		t.Errorf("search page 3 of 4-per-page: %d items, want 2", n)
	}

	// per_page above 100 is clamped; bad values are 400.
	r = s.Expect(t, "GET", api+"/projects?per_page=1000", root, nil, http.StatusOK)
	headers(t, r, map[string]string{"X-Per-Page": "100", "X-Total-Pages": "1"})
	r = s.Expect(t, "GET", api+"/projects?per_page=abc", root, nil, http.StatusBadRequest)
	checkJSON(t, r, `{"error":"per_page is invalid"}`)
	r = s.Expect(t, "GET", api+"/projects?page=abc", root, nil, http.StatusBadRequest)
	checkJSON(t, r, `{"error":"page is invalid"}`)
}

var linkRe = regexp.MustCompile(`<([^>]*)>;\s*rel="([^"]*)"`)

// parseLink reads an RFC 8288 Link header into rel -> URL.
func parseLink(t testing.TB, h string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, part := range strings.Split(h, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		m := linkRe.FindStringSubmatch(part)
		if m == nil {
			t.Errorf("malformed Link entry %q in %q", part, h)
			continue
		}
		out[m[2]] = m[1]
	}
	return out
}
