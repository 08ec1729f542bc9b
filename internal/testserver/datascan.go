package testserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx", to read a test database
	_ "modernc.org/sqlite"             // "sqlite", to read a test database
)

// The data check: at the end of each test, nothing at rest holds a secret
// in clear (security.md §2): the data directory (the SQLite database and
// its WAL, blobs, repositories, the built-in runner's builds), the S3
// gateway's storage, and on PostgreSQL every text and binary column of
// the test database.

// secretByDesign lists the files of the data directory that hold a secret
// because that is their job; their content is not checked.
var secretByDesign = map[string]string{
	// The instance key that seals secrets at rest (internal/secretbox),
	// created 0600 on the first start when the environment gives none.
	// The check remembers its content as a secret instead: it must appear
	// nowhere else.
	instanceKeyFile: "the instance key file",
}

// instanceKeyFile is where the server keeps its instance key in the data
// directory (server.Config.InstanceKey).
const instanceKeyFile = "instance.key"

// KnownLeaks are places where today's code keeps a secret in clear and a
// fix is under way: a finding there is logged, not failed. Each entry
// names its issue; remove it when the fix lands, and the check applies.
// None is known today: the masker's held state, the last entry, is sealed
// with the instance key since issue 13 item 2 (jobs.trace_state).
var KnownLeaks []KnownLeak

// KnownLeak is one entry of KnownLeaks.
type KnownLeak struct {
	Column string // table.column
	Why    string
	// Remnant reports whether a find in SQLite's files that no current
	// row holds is this leak's.
	Remnant func(finding) bool
}

func knownLeak(column string) *KnownLeak {
	for i := range KnownLeaks {
		if KnownLeaks[i].Column == column {
			return &KnownLeaks[i]
		}
	}
	return nil
}

// chunk is how much of a file the scan holds at once; overlap carries the
// end of one chunk into the next so that a token across the cut is seen.
const (
	chunk   = 4 << 20
	overlap = 1 << 10
)

// scanFile reports the findings in one file.
func (d *detector) scanFile(path, name string) ([]finding, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []finding
	buf := make([]byte, chunk+overlap)
	base, kept := int64(0), 0 // file offset of buf[0]; bytes carried over
	for {
		n, err := io.ReadFull(f, buf[kept:])
		end := kept + n
		last := err != nil
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return out, err
		}
		// A match must start before the carried-over tail, unless this is
		// the last piece; the next round sees the rest.
		limit := end - overlap
		if last {
			limit = end
		}
		seen := map[int64]bool{}
		d.scan(buf[:end], func(off int, nd *needle) {
			if off >= limit || seen[base+int64(off)] {
				return
			}
			seen[base+int64(off)] = true
			out = append(out, finding{what: nd.describe(buf[:end], off), where: fmt.Sprintf("%s at byte %d, near %s", name, base+int64(off), surroundings(buf[:end], off, nd)), file: name})
		})
		if last {
			return out, nil
		}
		kept = copy(buf, buf[limit:end])
		base += int64(limit)
	}
}

// scanDir reports the findings in every file under root, named relative
// to it with label in front.
func (d *detector) scanDir(root, label string) ([]finding, error) {
	var out []finding
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked (a build directory)
			}
			return err
		}
		if !e.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		if _, ok := secretByDesign[filepath.ToSlash(rel)]; ok {
			return nil
		}
		f, err := d.scanFile(path, label+filepath.ToSlash(rel))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		out = append(out, f...)
		return err
	})
	return out, err
}

// scanDB reports the findings in every text and binary value of every
// table of the database, each named table.column.
func (d *detector) scanDB(ctx context.Context, driver, dsn string) ([]finding, error) {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	q := "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
	if driver == "sqlite" {
		q = "SELECT name FROM sqlite_master WHERE type = 'table'"
	}
	tables, err := strings1(ctx, db, q)
	if err != nil {
		return nil, err
	}
	sort.Strings(tables)
	var out []finding
	for _, table := range tables {
		f, err := d.scanTable(ctx, db, table)
		if err != nil {
			return out, fmt.Errorf("table %s: %w", table, err)
		}
		out = append(out, f...)
	}
	return out, nil
}

func (d *detector) scanTable(ctx context.Context, db *sql.DB, table string) ([]finding, error) {
	rows, err := db.QueryContext(ctx, `SELECT * FROM "`+table+`"`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []finding
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return out, err
		}
		for i, v := range vals {
			var b []byte
			switch v := v.(type) {
			case string:
				b = []byte(v)
			case []byte:
				b = v
			default:
				continue
			}
			for _, f := range d.findings(b, func(int) string { return table + "." + cols[i] }) {
				f.column = table + "." + cols[i]
				out = append(out, f)
			}
		}
	}
	return out, rows.Err()
}

func strings1(ctx context.Context, db *sql.DB, q string) ([]string, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// isSQLiteFile reports whether name is the database or one of its side
// files (WAL, shared memory, rollback journal).
func isSQLiteFile(name string) bool {
	for _, suffix := range []string{".db", ".db-wal", ".db-shm", ".db-journal"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

// dataFindings runs the data check of one server: files under dirs, and
// the database. SQLite's finds in the database files are attributed to
// the table and column that hold them now, or to no current row (a
// remnant of an overwritten value); finds attributed only to a known leak
// are separated out.
func (d *detector) dataFindings(dirs map[string]string, dbDriver, dbDSN string) (leaks, known []finding, err error) {
	var all []finding
	labels := make([]string, 0, len(dirs))
	for label := range dirs {
		labels = append(labels, label)
	}
	sort.Strings(labels)
	for _, label := range labels {
		f, err := d.scanDir(dirs[label], label)
		if err != nil {
			return nil, nil, err
		}
		all = append(all, f...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var rows []finding
	if dbDSN != "" {
		if rows, err = d.scanDB(ctx, dbDriver, dbDSN); err != nil {
			return nil, nil, fmt.Errorf("scan the database: %w", err)
		}
	}
	if dbDriver == "pgx" {
		all = append(all, rows...)
	}
	for _, f := range all {
		if dbDriver == "sqlite" && isSQLiteFile(f.file) {
			at := holders(f.what, rows)
			if len(at) == 0 {
				f.where += " (in no current row: left from an overwritten or deleted value)"
				if k := remnantOf(f); k != nil {
					f.known = k
				}
			} else {
				f.where += " (held by " + strings.Join(at, ", ") + ")"
				f.known = knownAll(at)
			}
		} else if f.column != "" {
			f.known = knownLeak(f.column)
		}
		if f.known != nil {
			known = append(known, f)
		} else {
			leaks = append(leaks, f)
		}
	}
	return leaks, known, nil
}

// holders are the current columns that hold what was found.
func holders(what string, rows []finding) []string {
	var at []string
	for _, r := range rows {
		if r.what == what && !slices.Contains(at, r.column) {
			at = append(at, r.column)
		}
	}
	return at
}

// knownAll is the known leak of every column in at, if they share one.
func knownAll(at []string) *KnownLeak {
	var k *KnownLeak
	for _, c := range at {
		kc := knownLeak(c)
		if kc == nil || (k != nil && kc != k) {
			return nil
		}
		k = kc
	}
	return k
}

func remnantOf(f finding) *KnownLeak {
	for i := range KnownLeaks {
		if KnownLeaks[i].Remnant != nil && KnownLeaks[i].Remnant(f) {
			return &KnownLeaks[i]
		}
	}
	return nil
}
