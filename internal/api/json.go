package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/ciwarden/ciwarden/internal/store"
)

// Pagination bounds, as GitLab's.
const (
	defaultPerPage = 20
	maxPerPage     = 100
)

// page reads page and per_page; a non-number or a value below 1 is a 400,
// a per_page above 100 is clamped as GitLab does.
func (c *Ctx) page() (store.Page, error) {
	p := store.Page{Number: 1, PerPage: defaultPerPage}
	if v, ok := c.Params.Int("page"); ok {
		if v < 1 || v > 1<<31 {
			return p, errParam("page is invalid")
		}
		p.Number = int(v)
	}
	if v, ok := c.Params.Int("per_page"); ok {
		if v < 1 {
			return p, errParam("per_page is invalid")
		}
		p.PerPage = int(min(v, maxPerPage))
	}
	if err := c.Params.Err(); err != nil {
		return p, err
	}
	return p, nil
}

// writePage writes one page of a listing with GitLab's pagination
// headers: X-Total, X-Total-Pages, X-Page, X-Per-Page, X-Next-Page,
// X-Prev-Page and Link.
func (c *Ctx) writePage(items any, p store.Page, total int) {
	h := c.W.Header()
	pages := (total + p.PerPage - 1) / p.PerPage
	if pages == 0 {
		pages = 1
	}
	h.Set("X-Total", strconv.Itoa(total))
	h.Set("X-Total-Pages", strconv.Itoa(pages))
	h.Set("X-Page", strconv.Itoa(p.Number))
	h.Set("X-Per-Page", strconv.Itoa(p.PerPage))
	next, prev := "", ""
	if p.Number < pages {
		next = strconv.Itoa(p.Number + 1)
	}
	if p.Number > 1 {
		prev = strconv.Itoa(min(p.Number-1, pages))
	}
	h.Set("X-Next-Page", next)
	h.Set("X-Prev-Page", prev)
	var links []string
	link := func(n int, rel string) {
		links = append(links, fmt.Sprintf("<%s>; rel=%q", c.pageURL(n, p.PerPage), rel))
	}
	if prev != "" {
		link(min(p.Number-1, pages), "prev")
	}
	if next != "" {
		link(p.Number+1, "next")
	}
	link(1, "first")
	link(pages, "last")
	h.Set("Link", strings.Join(links, ", "))
	writeJSON(c.W, http.StatusOK, items)
}

// pageURL is this request's URL on the external host with another page.
// Credential parameters are dropped so a Link header never repeats one.
func (c *Ctx) pageURL(n, perPage int) string {
	q := url.Values{}
	for k, v := range c.R.URL.Query() {
		switch k {
		case "private_token", "job_token", "token":
			continue
		}
		q[k] = v
	}
	q.Set("page", strconv.Itoa(n))
	q.Set("per_page", strconv.Itoa(perPage))
	return strings.TrimSuffix(c.API.ExternalURL, "/") + c.R.URL.EscapedPath() + "?" + q.Encode()
}
