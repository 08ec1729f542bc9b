package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// pkgFixture is a project with helpers to publish package files.
type pkgFixture struct {
	t   *testing.T
	st  *store.Store
	p   *model.Project
	now time.Time
}

func newPkgFixture(t *testing.T, st *store.Store) *pkgFixture {
	grp := newGroup(t, st, nil, "pkgs", model.Private)
	return &pkgFixture{t: t, st: st, p: newProject(t, st, grp.ID, "app", model.Private), now: time.Now().UTC().Truncate(time.Second)}
}

// publish records a file of name/version as the upload path does: ensure
// the package, then record the file, in one transaction.
func (f *pkgFixture) publish(name, version, file, status string, pipeline *int64) (*model.Package, *model.PackageFile) {
	f.t.Helper()
	f.now = f.now.Add(time.Second)
	pkg := &model.Package{ProjectID: f.p.ID, Type: model.PackageGeneric, Name: name, Version: version, CreatedAt: f.now}
	pf := &model.PackageFile{FileName: file, Size: 3, SHA256: "abc", BlobKey: "projects/1/packages/x/" + name + version + file + f.now.String(),
		PipelineID: pipeline, CreatedAt: f.now}
	err := f.st.Tx(ctx, func(q *store.Queries) error {
		if err := q.EnsurePackage(ctx, pkg); err != nil {
			return err
		}
		if status != "" && status != pkg.Status {
			if err := q.SetPackageStatus(ctx, pkg.ID, status, f.now); err != nil {
				return err
			}
			pkg.Status = status
		}
		pf.PackageID = pkg.ID
		return q.CreatePackageFile(ctx, pf)
	})
	if err != nil {
		f.t.Fatalf("publish %s/%s/%s: %v", name, version, file, err)
	}
	return pkg, pf
}

func names(pkgs []*model.Package) []string {
	var out []string
	for _, p := range pkgs {
		out = append(out, p.Name+"@"+p.Version)
	}
	return out
}

func TestEnsurePackageAndFiles(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		f := newPkgFixture(t, st)
		empty := &model.Package{ProjectID: f.p.ID, Type: model.PackageGeneric, Name: "tool", Version: "1.0"}
		if err := st.Tx(ctx, func(q *store.Queries) error { return q.EnsurePackage(ctx, empty) }); err != nil {
			t.Fatal(err)
		}
		if empty.ID == 0 || empty.Status != model.PackageDefault || empty.CreatedAt.IsZero() {
			t.Fatalf("EnsurePackage left %+v", empty)
		}
		// A package without files is absent to every read.
		_, err := st.Package(ctx, f.p.ID, empty.ID)
		wantErr(t, "Package(no files)", err, model.ErrNotFound)
		_, err = st.PackageByName(ctx, f.p.ID, model.PackageGeneric, "tool", "1.0")
		wantErr(t, "PackageByName(no files)", err, model.ErrNotFound)
		if list, total, err := st.ListPackages(ctx, store.PackageFilter{ProjectID: f.p.ID}, allPage()); err != nil || total != 0 || len(list) != 0 {
			t.Fatalf("ListPackages with an empty package = %v, %d, %v", names(list), total, err)
		}

		// The same identity finds the same row.
		again := &model.Package{ProjectID: f.p.ID, Type: model.PackageGeneric, Name: "tool", Version: "1.0", Status: model.PackageHidden}
		if err := st.Tx(ctx, func(q *store.Queries) error { return q.EnsurePackage(ctx, again) }); err != nil {
			t.Fatal(err)
		}
		if again.ID != empty.ID || again.Status != model.PackageDefault {
			t.Fatalf("EnsurePackage twice: %+v, want the row %d with its status", again, empty.ID)
		}

		pkg, first := f.publish("tool", "1.0", "tool.bin", "", nil)
		_, second := f.publish("tool", "1.0", "tool.bin", "", nil)
		if pkg.ID != empty.ID || first.ID == 0 || second.ID <= first.ID {
			t.Fatalf("publish: package %d files %d, %d", pkg.ID, first.ID, second.ID)
		}
		got, err := st.Package(ctx, f.p.ID, pkg.ID)
		if err != nil || got.Name != "tool" || got.Version != "1.0" || got.Type != model.PackageGeneric || !got.UpdatedAt.Equal(second.CreatedAt) {
			t.Fatalf("Package = %+v, %v", got, err)
		}
		_, err = st.Package(ctx, f.p.ID+1, pkg.ID)
		wantErr(t, "Package(other project)", err, model.ErrNotFound)

		// Downloads by name get the newest file of that name.
		newest, err := st.NewestPackageFile(ctx, pkg.ID, "tool.bin")
		if err != nil || newest.ID != second.ID || newest.BlobKey != second.BlobKey || newest.Size != 3 || newest.SHA256 != "abc" {
			t.Fatalf("NewestPackageFile = %+v, %v; want file %d", newest, err, second.ID)
		}
		_, err = st.NewestPackageFile(ctx, pkg.ID, "other.bin")
		wantErr(t, "NewestPackageFile(missing)", err, model.ErrNotFound)
		one, err := st.PackageFile(ctx, pkg.ID, first.ID)
		if err != nil || one.FileName != "tool.bin" || !one.CreatedAt.Equal(first.CreatedAt) || one.PipelineID != nil {
			t.Fatalf("PackageFile = %+v, %v", one, err)
		}
		_, err = st.PackageFile(ctx, pkg.ID+1, first.ID)
		wantErr(t, "PackageFile(other package)", err, model.ErrNotFound)

		// Hidden: installable by name, not found by ID, not listed.
		hidden, _ := f.publish("secret", "2.0", "s.bin", model.PackageHidden, nil)
		if p, err := st.PackageByName(ctx, f.p.ID, model.PackageGeneric, "secret", "2.0"); err != nil || p.Status != model.PackageHidden {
			t.Fatalf("PackageByName(hidden) = %+v, %v", p, err)
		}
		_, err = st.Package(ctx, f.p.ID, hidden.ID)
		wantErr(t, "Package(hidden)", err, model.ErrNotFound)

		// DeletePackageIfEmpty leaves a package with files alone.
		if err := st.Tx(ctx, func(q *store.Queries) error { return q.DeletePackageIfEmpty(ctx, pkg.ID) }); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Package(ctx, f.p.ID, pkg.ID); err != nil {
			t.Fatalf("DeletePackageIfEmpty removed a package with files: %v", err)
		}
		lone := &model.Package{ProjectID: f.p.ID, Type: model.PackageGeneric, Name: "lone", Version: "1"}
		err = st.Tx(ctx, func(q *store.Queries) error {
			if err := q.EnsurePackage(ctx, lone); err != nil {
				return err
			}
			return q.DeletePackageIfEmpty(ctx, lone.ID)
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := count(t, st, "SELECT COUNT(*) FROM packages WHERE id = "+itoa(lone.ID)); n != 0 {
			t.Fatalf("empty package still there: %d rows", n)
		}
	})
}

func TestListPackages(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		f := newPkgFixture(t, st)
		f.publish("beta", "2.0", "b", "", nil)
		f.publish("alpha", "1.0", "a", "", nil)
		f.publish("alpha", "1.1", "a", "", nil)
		f.publish("Alpha_Tools", "0.1", "a", "", nil)
		f.publish("alphaxtools", "0.1", "a", "", nil)
		f.publish("gamma", "3.0", "g", model.PackageHidden, nil)
		// Another project's package never shows.
		other := newProject(t, st, f.p.NamespaceID, "other", model.Private)
		(&pkgFixture{t: t, st: st, p: other, now: f.now}).publish("alpha", "9.9", "a", "", nil)

		list := func(flt store.PackageFilter, page store.Page) ([]string, int) {
			t.Helper()
			flt.ProjectID = f.p.ID
			pkgs, total, err := st.ListPackages(ctx, flt, page)
			if err != nil {
				t.Fatalf("ListPackages(%+v): %v", flt, err)
			}
			return names(pkgs), total
		}
		for _, tc := range []struct {
			name  string
			flt   store.PackageFilter
			want  []string
			total int
		}{
			{"default order is created_at asc, hidden left out", store.PackageFilter{},
				[]string{"beta@2.0", "alpha@1.0", "alpha@1.1", "Alpha_Tools@0.1", "alphaxtools@0.1"}, 5},
			{"created_at desc", store.PackageFilter{Desc: true},
				[]string{"alphaxtools@0.1", "Alpha_Tools@0.1", "alpha@1.1", "alpha@1.0", "beta@2.0"}, 5},
			{"by name", store.PackageFilter{OrderBy: "name"},
				[]string{"Alpha_Tools@0.1", "alpha@1.0", "alpha@1.1", "alphaxtools@0.1", "beta@2.0"}, 5},
			{"by version desc", store.PackageFilter{OrderBy: "version", Desc: true},
				[]string{"beta@2.0", "alpha@1.1", "alpha@1.0", "alphaxtools@0.1", "Alpha_Tools@0.1"}, 5},
			{"name is a case-insensitive substring", store.PackageFilter{Name: "ALPHA"},
				[]string{"alpha@1.0", "alpha@1.1", "Alpha_Tools@0.1", "alphaxtools@0.1"}, 4},
			{"an underscore in the name is literal", store.PackageFilter{Name: "a_t"}, []string{"Alpha_Tools@0.1"}, 1},
			{"a percent sign is literal", store.PackageFilter{Name: "%"}, nil, 0},
			{"version is exact", store.PackageFilter{Version: "1.1"}, []string{"alpha@1.1"}, 1},
			{"status hidden lists hidden ones", store.PackageFilter{Status: model.PackageHidden}, []string{"gamma@3.0"}, 1},
			{"type", store.PackageFilter{Type: "npm"}, nil, 0},
			{"type generic", store.PackageFilter{Type: model.PackageGeneric, Version: "2.0"}, []string{"beta@2.0"}, 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, total := list(tc.flt, allPage())
				if !slices.Equal(got, tc.want) || total != tc.total {
					t.Fatalf("got %v (total %d), want %v (total %d)", got, total, tc.want, tc.total)
				}
			})
		}
		got, total := list(store.PackageFilter{OrderBy: "name"}, store.Page{Number: 2, PerPage: 2})
		if !slices.Equal(got, []string{"alpha@1.1", "alphaxtools@0.1"}) || total != 5 {
			t.Fatalf("page 2 of 2 = %v (total %d)", got, total)
		}
		_, _, err := st.ListPackages(ctx, store.PackageFilter{ProjectID: f.p.ID, OrderBy: "size; DROP TABLE packages"}, allPage())
		wantErr(t, "ListPackages(bad order)", err, model.ErrInvalid)
	})
}

func TestPackageFilesAndPipelines(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		f := newPkgFixture(t, st)
		pipe := &model.Pipeline{ProjectID: f.p.ID, Ref: "main", SHA: "0123", Source: "push", Status: model.StatusRunning}
		if err := st.Tx(ctx, func(q *store.Queries) error { return q.CreatePipeline(ctx, pipe) }); err != nil {
			t.Fatal(err)
		}
		pkg, a := f.publish("tool", "1", "b.bin", "", &pipe.ID)
		_, b := f.publish("tool", "1", "a.bin", "", &pipe.ID)
		_, c := f.publish("tool", "1", "c.bin", "", nil)
		other, _ := f.publish("other", "1", "x", "", nil)

		files, total, err := st.ListPackageFiles(ctx, pkg.ID, "", false, allPage())
		if err != nil || total != 3 || len(files) != 3 || files[0].ID != a.ID || files[1].ID != b.ID || files[2].ID != c.ID {
			t.Fatalf("ListPackageFiles = %v, %d, %v", files, total, err)
		}
		if files[0].PipelineID == nil || *files[0].PipelineID != pipe.ID || files[2].PipelineID != nil {
			t.Fatalf("pipeline IDs: %v, %v", files[0].PipelineID, files[2].PipelineID)
		}
		files, _, _ = st.ListPackageFiles(ctx, pkg.ID, "file_name", true, store.Page{Number: 1, PerPage: 2})
		if len(files) != 2 || files[0].FileName != "c.bin" || files[1].FileName != "b.bin" {
			t.Fatalf("by file_name desc, page of 2: %v", files)
		}
		_, _, err = st.ListPackageFiles(ctx, pkg.ID, "blob_key", false, allPage())
		wantErr(t, "ListPackageFiles(bad order)", err, model.ErrInvalid)

		ids, err := st.PackagePipelineIDs(ctx, []int64{pkg.ID, other.ID})
		if err != nil || !slices.Equal(ids[pkg.ID], []int64{pipe.ID}) || len(ids[other.ID]) != 0 {
			t.Fatalf("PackagePipelineIDs = %v, %v", ids, err)
		}
		ps, err := st.PipelinesByID(ctx, []int64{pipe.ID, pipe.ID + 1000})
		if err != nil || len(ps) != 1 || ps[pipe.ID].SHA != "0123" {
			t.Fatalf("PipelinesByID = %v, %v", ps, err)
		}

		// Deleting the pipeline keeps the files, without a pipeline.
		if err := st.Tx(ctx, func(q *store.Queries) error { return q.DeletePipeline(ctx, pipe.ID) }); err != nil {
			t.Fatal(err)
		}
		if got, err := st.PackageFile(ctx, pkg.ID, a.ID); err != nil || got.PipelineID != nil {
			t.Fatalf("after the pipeline's deletion: %+v, %v", got, err)
		}
	})
}

func TestDeletePackage(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		f := newPkgFixture(t, st)
		pkg, a := f.publish("tool", "1", "a", "", nil)
		_, b := f.publish("tool", "1", "b", "", nil)
		keep, k := f.publish("keep", "1", "k", "", nil)

		_, err := st.DeletePackageFile(ctx, f.p.ID, pkg.ID, k.ID)
		wantErr(t, "DeletePackageFile(file of another package)", err, model.ErrNotFound)
		_, err = st.DeletePackageFile(ctx, f.p.ID+1, pkg.ID, a.ID)
		wantErr(t, "DeletePackageFile(other project)", err, model.ErrNotFound)
		key, err := st.DeletePackageFile(ctx, f.p.ID, pkg.ID, a.ID)
		if err != nil || key != a.BlobKey {
			t.Fatalf("DeletePackageFile = %q, %v; want %q", key, err, a.BlobKey)
		}
		_, err = st.PackageFile(ctx, pkg.ID, a.ID)
		wantErr(t, "PackageFile(deleted)", err, model.ErrNotFound)

		_, err = st.DeletePackage(ctx, f.p.ID+1, pkg.ID)
		wantErr(t, "DeletePackage(other project)", err, model.ErrNotFound)
		keys, err := st.DeletePackage(ctx, f.p.ID, pkg.ID)
		if err != nil || !slices.Equal(keys, []string{b.BlobKey}) {
			t.Fatalf("DeletePackage = %v, %v; want [%s]", keys, err, b.BlobKey)
		}
		if n := count(t, st, "SELECT COUNT(*) FROM package_files WHERE package_id = "+itoa(pkg.ID)); n != 0 {
			t.Fatalf("file rows left: %d", n)
		}
		_, err = st.DeletePackage(ctx, f.p.ID, pkg.ID)
		wantErr(t, "DeletePackage(again)", err, model.ErrNotFound)
		if _, err := st.Package(ctx, f.p.ID, keep.ID); err != nil {
			t.Fatalf("the other package went too: %v", err)
		}
	})
}
