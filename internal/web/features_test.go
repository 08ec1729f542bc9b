package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// pushImage pushes a small random image to the server's registry as u.
func pushImage(t *testing.T, s *testserver.Server, u testserver.User, path string) {
	t.Helper()
	ref, err := name.ParseReference(strings.TrimPrefix(s.URL, "http://")+"/"+path, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: u.Username, Password: u.Token})); err != nil {
		t.Fatalf("push %s: %v", path, err)
	}
}

// featureProject is a private project with a release, a generic package,
// a locked Terraform state and two image tags, made through the API by
// its Maintainer.
type featureProject struct {
	s                       *testserver.Server
	path, api               string
	maint, reporter, dev    testserver.User
	outsider                testserver.User
	packageID, repositoryID int64
}

func newFeatureProject(t *testing.T, s *testserver.Server) *featureProject {
	t.Helper()
	f := &featureProject{s: s}
	f.maint = userWithPassword(t, s, "maint", "maintainer password")
	f.dev = userWithPassword(t, s, "dev", "developer password")
	f.reporter = userWithPassword(t, s, "rep", "reporter password")
	f.outsider = userWithPassword(t, s, "out", "outsider password")
	grp := s.CreateGroup(t, "grp", 0, "private")
	app := s.CreateProject(t, grp, "app", "private")
	f.path, f.api = app.Path, testserver.API+"/projects/"+testserver.Itoa(app.ID)
	s.AddMember(t, "projects", app.ID, f.maint.ID, 40)
	s.AddMember(t, "projects", app.ID, f.dev.ID, 30)
	s.AddMember(t, "projects", app.ID, f.reporter.ID, 20)
	s.PushCI(t, app.Path, f.maint, map[string]string{"README.md": "hello\n"})
	s.Expect(t, "POST", f.api+"/releases", f.maint.Token, `{"tag_name":"v1.0","ref":"main","name":"First release",`+
		`"description":"The first notes","assets":{"links":[{"name":"app binary","url":"https://example.com/app","direct_asset_path":"/bin/app"}]}}`, 201)
	s.Expect(t, "PUT", f.api+"/packages/generic/tool/1.2.3/tool.bin", f.maint.Token, []byte("the tool's bytes"), 201)
	f.packageID = testserver.Num(t, s.Expect(t, "GET", f.api+"/packages", f.maint.Token, nil, 200).List(t)[0], "id")
	s.Expect(t, "POST", f.api+"/terraform/state/production", f.maint.Token,
		`{"version":4,"terraform_version":"1.12.6","serial":3,"lineage":"3f1c","outputs":{},"resources":[]}`, 200)
	s.Expect(t, "POST", f.api+"/terraform/state/production/lock", f.maint.Token,
		`{"ID":"lock-1","Operation":"OperationTypeApply","Info":"","Who":"ci@runner","Version":"1.12.6","Created":"2026-01-02T03:04:05Z","Path":""}`, 200)
	pushImage(t, s, f.maint, app.Path+":v1")
	pushImage(t, s, f.maint, app.Path+":v2")
	f.repositoryID = testserver.Num(t, s.Expect(t, "GET", f.api+"/registry/repositories", f.maint.Token, nil, 200).List(t)[0], "id")
	return f
}

func (f *featureProject) browser(t *testing.T, u testserver.User, password string) *browser {
	t.Helper()
	b := newBrowser(t, f.s)
	if p := b.signIn(u.Username, password); p.Status != http.StatusSeeOther {
		t.Fatalf("sign in %s: %d", u.Username, p.Status)
	}
	f.s.Remember(b.cookie("_ciwarden_session"))
	return b
}

// TestFeaturePages: the releases, packages, Terraform and container
// registry pages show what the API stores, for the API's roles; a
// Maintainer's unlock, removal and deletions go through the same services
// (the API sees them); a non-member gets 404 (issue 19, item 1).
func TestFeaturePages(t *testing.T) {
	t.Parallel()
	s := testserver.New(t, testserver.Options{})
	f := newFeatureProject(t, s)
	base := "/" + f.path
	m := f.browser(t, f.maint, "maintainer password")

	proj := m.get(base)
	mustContain(t, proj, base+"/-/releases", base+"/-/packages", base+"/-/terraform", base+"/-/container_registry")

	mustContain(t, m.get(base+"/-/releases"), "First release", base+"/-/releases/v1.0")
	rel := m.get(base + "/-/releases/v1.0")
	mustContain(t, rel, "First release", "The first notes", `href="https://example.com/app"`, "app binary", "/bin/app", "Edit release")
	if p := m.get(base + "/-/releases/v1.0/downloads/bin/app"); p.Status != http.StatusFound || p.Header.Get("Location") != "https://example.com/app" {
		t.Errorf("direct asset URL: %d %q, want 302 to the link", p.Status, p.Header.Get("Location"))
	}
	if p := m.get(base + "/-/releases/v1.0/downloads/bin/none"); p.Status != http.StatusNotFound {
		t.Errorf("unknown asset: %d, want 404", p.Status)
	}
	// A tag with a slash: the API's _links.self (escaped) opens its page.
	self := s.Expect(t, "POST", f.api+"/releases", f.maint.Token, `{"tag_name":"release/2.0","ref":"main","name":"Second"}`, 201).Object(t)["_links"].(map[string]any)["self"].(string)
	if !strings.HasSuffix(self, "/-/releases/release%2F2.0") {
		t.Fatalf("_links.self %s", self)
	}
	mustContain(t, m.get(strings.TrimPrefix(self, s.URL)), "Second", "release/2.0")
	mustContain(t, m.get(base+"/-/releases/release/2.0/edit"), `value="Second"`)
	mustContain(t, m.get(base+"/-/releases"), base+"/-/releases/release/2.0")
	if p := m.get(base + "/-/releases/v9"); p.Status != http.StatusNotFound {
		t.Errorf("unknown release: %d, want 404", p.Status)
	}
	mustContain(t, m.get(base+"/-/releases/v1.0/edit"), `value="First release"`, "The first notes")
	if p := m.post(base+"/-/releases/v1.0/edit", base+"/-/releases/v1.0", url.Values{"name": {"Renamed"}, "description": {"New notes"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("edit release: %d\n%s", p.Status, p.Body)
	}
	if r := s.Expect(t, "GET", f.api+"/releases/v1.0", f.maint.Token, nil, 200).Object(t); r["name"] != "Renamed" || r["description"] != "New notes" {
		t.Errorf("after the edit the API says %v", r)
	}
	if p := m.get(base + "/-/tags/v1.0"); p.Status != http.StatusSeeOther || p.Header.Get("Location") != base+"/-/tree/v1.0" {
		t.Errorf("tag path: %d %q", p.Status, p.Header.Get("Location"))
	}

	pkgs := base + "/-/packages"
	mustContain(t, m.get(pkgs), "tool", "1.2.3", "generic", pkgs+"/"+testserver.Itoa(f.packageID))
	pkg := m.get(pkgs + "/" + testserver.Itoa(f.packageID))
	mustContain(t, pkg, "tool.bin", "16 bytes", "Delete package")
	files := s.Expect(t, "GET", f.api+"/packages/"+testserver.Itoa(f.packageID)+"/package_files", f.maint.Token, nil, 200).List(t)
	download := pkgs + "/" + testserver.Itoa(f.packageID) + "/files/" + testserver.Itoa(testserver.Num(t, files[0], "id")) + "/download"
	mustContain(t, pkg, download)
	if p := m.get(download); p.Status != http.StatusOK || p.Body != "the tool's bytes" {
		t.Errorf("package file download: %d %q", p.Status, p.Body)
	}
	if p := m.get(pkgs + "/999999"); p.Status != http.StatusNotFound {
		t.Errorf("unknown package: %d", p.Status)
	}

	tf := m.get(base + "/-/terraform")
	mustContain(t, tf, "production", `class="holder">maint</strong>`, "latest serial 3", "Unlock", "Remove state file")
	// A locked state is not removed without its lock (the API's 409).
	if p := m.post(base+"/-/terraform", base+"/-/terraform/production/delete", url.Values{}); p.Status != http.StatusConflict {
		t.Errorf("remove a locked state: %d, want 409", p.Status)
	}
	if p := m.post(base+"/-/terraform", base+"/-/terraform/production/unlock", url.Values{}); p.Status != http.StatusSeeOther {
		t.Fatalf("unlock: %d\n%s", p.Status, p.Body)
	}
	mustContain(t, m.get(base+"/-/terraform"), "Unlocked")

	reg := m.get(base + "/-/container_registry")
	host := strings.TrimPrefix(s.URL, "http://")
	mustContain(t, reg, host+"/"+f.path+":v1", host+"/"+f.path+":v2", "Delete tag v1")

	// What a Reporter sees: everything but Terraform (Developer and up, as
	// the API), and no buttons.
	r := f.browser(t, f.reporter, "reporter password")
	for _, path := range []string{"/-/releases", "/-/releases/v1.0", "/-/packages", "/-/packages/" + testserver.Itoa(f.packageID), "/-/container_registry"} {
		p := r.get(base + path)
		if p.Status != http.StatusOK {
			t.Errorf("reporter on %s: %d", path, p.Status)
		}
		for _, hidden := range []string{"Edit release", "Delete package", "Delete tag"} {
			if strings.Contains(p.Body, hidden) {
				t.Errorf("reporter sees %q on %s", hidden, path)
			}
		}
	}
	if strings.Contains(r.get(base).Body, "/-/terraform") {
		t.Error("a reporter's project menu links to Terraform states")
	}
	if p := r.get(base + "/-/terraform"); p.Status != http.StatusForbidden {
		t.Errorf("reporter on terraform: %d, want 403", p.Status)
	}
	if p := r.post(base+"/-/packages", pkgs+"/"+testserver.Itoa(f.packageID)+"/delete", url.Values{}); p.Status != http.StatusForbidden {
		t.Errorf("reporter deletes a package: %d, want 403", p.Status)
	}
	d := f.browser(t, f.dev, "developer password")
	mustContain(t, d.get(base+"/-/terraform"), "production")
	if strings.Contains(d.get(base+"/-/terraform").Body, "Remove state file") {
		t.Error("a developer sees Remove state file")
	}

	// A non-member: 404 on every page, as the API.
	o := f.browser(t, f.outsider, "outsider password")
	for _, path := range []string{"/-/releases", "/-/releases/v1.0", "/-/releases/v1.0/edit", "/-/packages", "/-/packages/" + testserver.Itoa(f.packageID),
		"/-/terraform", "/-/container_registry"} {
		if p := o.get(base + path); p.Status != http.StatusNotFound {
			t.Errorf("outsider on %s: %d, want 404", path, p.Status)
		}
	}

	// The Maintainer's deletions, seen by the API.
	if p := m.post(base+"/-/container_registry", base+"/-/container_registry/"+testserver.Itoa(f.repositoryID)+"/tags/v1/delete", url.Values{}); p.Status != http.StatusSeeOther {
		t.Fatalf("delete tag: %d\n%s", p.Status, p.Body)
	}
	tags := s.Expect(t, "GET", f.api+"/registry/repositories/"+testserver.Itoa(f.repositoryID)+"/tags", f.maint.Token, nil, 200).List(t)
	if len(tags) != 1 || tags[0]["name"] != "v2" {
		t.Errorf("tags after the deletion: %v", tags)
	}
	if p := m.post(base+"/-/terraform", base+"/-/terraform/production/delete", url.Values{}); p.Status != http.StatusSeeOther {
		t.Fatalf("remove state: %d\n%s", p.Status, p.Body)
	}
	if states := s.Expect(t, "GET", f.api+"/terraform/state", f.maint.Token, nil, 200).List(t); len(states) != 0 {
		t.Errorf("states after the removal: %v", states)
	}
	if p := m.post(pkgs, pkgs+"/"+testserver.Itoa(f.packageID)+"/delete", url.Values{}); p.Status != http.StatusSeeOther {
		t.Fatalf("delete package: %d\n%s", p.Status, p.Body)
	}
	s.Expect(t, "GET", f.api+"/packages/"+testserver.Itoa(f.packageID), f.maint.Token, nil, 404)
}
