package store

// Page selects one page of a listing; Number counts from 1.
type Page struct {
	Number  int
	PerPage int
}

// Limit is the SQL LIMIT for the page.
func (p Page) Limit() int { return p.PerPage }

// Offset is the SQL OFFSET for the page.
func (p Page) Offset() int { return (p.Number - 1) * p.PerPage }
