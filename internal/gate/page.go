package gate

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
	MaxPerPage     = 100
)

// page reads page and per_page; a non-number or a value below 1 is a 400,
// a per_page above 100 is clamped as GitLab does. Listings read it through
// List, which reads it after the handler's filters.
func (c *Ctx) page() (store.Page, error) {
	p := store.Page{Number: 1, PerPage: defaultPerPage}
	if v, ok := c.Params.Int("page"); ok {
		if v < 1 || v > 1<<31 {
			return p, ParamError("page is invalid")
		}
		p.Number = int(v)
	}
	if v, ok := c.Params.Int("per_page"); ok {
		if v < 1 {
			return p, ParamError("per_page is invalid")
		}
		p.PerPage = int(min(v, MaxPerPage))
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
	WriteJSON(c.W, http.StatusOK, items)
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
	return strings.TrimSuffix(c.gate.ExternalURL, "/") + c.R.URL.EscapedPath() + "?" + q.Encode()
}

// List is the one shape of a GitLab listing: read page and per_page, fetch
// that page and the total, render each item, write them with the
// pagination headers. It is the only way to write a page.
func List[T, E any](c *Ctx, fetch func(store.Page) ([]T, int, error), render func(T) E) error {
	pg, err := c.page()
	if err != nil {
		return err
	}
	items, total, err := fetch(pg)
	if err != nil {
		return err
	}
	out := make([]E, 0, len(items))
	for _, it := range items {
		out = append(out, render(it))
	}
	c.writePage(out, pg, total)
	return nil
}

// ListSlice is List over a listing held whole in memory (a project's
// members, its branches): the page is cut out of all.
func ListSlice[T, E any](c *Ctx, all []T, render func(T) E) error {
	return List(c, func(pg store.Page) ([]T, int, error) { return Slice(all, pg), len(all), nil }, render)
}

// Slice is page pg of all; past the end it is empty.
func Slice[T any](all []T, pg store.Page) []T {
	start := min(pg.Offset(), len(all))
	end := min(start+pg.Limit(), len(all))
	return all[start:end]
}
