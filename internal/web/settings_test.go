package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestTokenAccessPage: a Maintainer turns the outbound limit on and off,
// adds and removes project entries (the seed's rule: Maintainer on both
// to add outbound), adds a group entry with fine-grained permissions and
// edits them; every change shows in the REST API (the same service) and
// a refusal shows the API's message. A Developer gets no settings.
func TestTokenAccessPage(t *testing.T) {
	t.Parallel()
	s := testserver.New(t, testserver.Options{})
	maint := userWithPassword(t, s, "maint", "maintainer password")
	dev := userWithPassword(t, s, "dev", "developer password")
	grp := s.CreateGroup(t, "team", 0, "private")
	app := s.CreateProject(t, grp, "app", "private")
	lib := s.CreateProject(t, grp, "lib", "private")
	other := s.CreateProject(t, 0, "other", "private") // maint cannot see it
	s.AddMember(t, "projects", app.ID, maint.ID, 40)
	s.AddMember(t, "projects", lib.ID, maint.ID, 30) // Developer on lib
	s.AddMember(t, "projects", app.ID, dev.ID, 30)

	b := newBrowser(t, s)
	b.signIn("maint", "maintainer password")
	s.Remember(b.cookie("_ciwarden_session"))
	settings := "/" + app.Path + "/-/settings/ci_cd"
	p := b.get(settings)
	if p.Status != http.StatusOK {
		t.Fatalf("settings: %d\n%s", p.Status, p.Body)
	}
	mustContain(t, p, "Token Access", "Limit CI_JOB_TOKEN access", `id="outbound-state">Disabled`, "Allow access to this project with a CI/CD job token")

	scope := func() map[string]any {
		return s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(app.ID)+"/job_token_scope", s.RootToken, nil, 200).Object(t)
	}
	p = b.post(settings, settings+"/job_token_scope", url.Values{"which": {"outbound"}, "enabled": {"true"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("toggle outbound: %d\n%s", p.Status, p.Body)
	}
	if sc := scope(); sc["outbound_enabled"] != true {
		t.Fatalf("after the toggle the API says %v", sc)
	}
	mustContain(t, b.get(settings), `id="outbound-state">Enabled`)

	// Outbound needs Maintainer on the target too: lib is refused with
	// the API's message, other (invisible) as missing.
	p = b.post(settings, settings+"/allowlist", url.Values{"kind": {"outbound"}, "target": {lib.Path}})
	if p.Status != http.StatusForbidden {
		t.Fatalf("outbound entry without Maintainer on the target: %d", p.Status)
	}
	mustContain(t, p, "Insufficient permissions to add the target project: the Maintainer role is required on it too")
	p = b.post(settings, settings+"/allowlist", url.Values{"kind": {"outbound"}, "target": {other.Path}})
	if p.Status != http.StatusNotFound {
		t.Fatalf("outbound entry for a project maint cannot see: %d", p.Status)
	}
	mustContain(t, p, "404 target_project_id not found")

	// Inbound: lib as a project entry; the group with two policies.
	p = b.post(settings, settings+"/allowlist", url.Values{"kind": {"inbound"}, "target": {lib.Path}, "permissions": {"default"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("inbound project entry: %d\n%s", p.Status, p.Body)
	}
	p = b.post(settings, settings+"/allowlist", url.Values{"kind": {"group"}, "target": {"team"}, "permissions": {"fine_grained"},
		"job_token_policies[]": {"read_packages", "read_jobs"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("group entry: %d\n%s", p.Status, p.Body)
	}
	groups := s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(app.ID)+"/job_token_scope/groups_allowlist", s.RootToken, nil, 200).List(t)
	if len(groups) != 1 || groups[0]["default_permissions"] != false || len(groups[0]["job_token_policies"].([]any)) != 2 {
		t.Fatalf("groups allowlist after the page's add: %v", groups)
	}
	mustContain(t, b.get(settings), "group team", "read_jobs, read_packages", lib.Path)
	// A duplicate: the API's 400 and words.
	p = b.post(settings, settings+"/allowlist", url.Values{"kind": {"inbound"}, "target": {lib.Path}, "permissions": {"default"}})
	if p.Status != http.StatusBadRequest {
		t.Fatalf("duplicate entry: %d", p.Status)
	}
	mustContain(t, p, "Target project is already in the job token scope")

	// Edit the group entry back to default permissions, then remove the
	// project entry.
	p = b.post(settings, settings+"/allowlist/permissions", url.Values{"kind": {"group"}, "id": {testserver.Itoa(grp)}, "permissions": {"default"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("edit permissions: %d\n%s", p.Status, p.Body)
	}
	groups = s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(app.ID)+"/job_token_scope/groups_allowlist", s.RootToken, nil, 200).List(t)
	if groups[0]["default_permissions"] != true {
		t.Fatalf("group entry after the edit: %v", groups[0])
	}
	p = b.post(settings, settings+"/allowlist/remove", url.Values{"kind": {"inbound"}, "id": {testserver.Itoa(lib.ID)}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("remove: %d\n%s", p.Status, p.Body)
	}
	inbound := s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(app.ID)+"/job_token_scope/allowlist", s.RootToken, nil, 200).List(t)
	if len(inbound) != 1 { // the project itself
		t.Fatalf("inbound allowlist after the remove: %v", inbound)
	}

	// The CSV export and the explain form answer.
	if p := b.get(settings + "/authorizations.csv"); p.Status != 200 || !strings.HasPrefix(p.Body, "origin_project_id,origin_project_path") {
		t.Fatalf("CSV export: %d %q", p.Status, p.Body)
	}
	if p := b.get(settings + "/explain?job_id=999999&permission=read_jobs"); p.Status != http.StatusNotFound {
		t.Fatalf("explain of a missing job: %d\n%s", p.Status, p.Body)
	}

	// A Developer: no settings link, and the page refused.
	d := newBrowser(t, s)
	d.signIn("dev", "developer password")
	s.Remember(d.cookie("_ciwarden_session"))
	if p := d.get("/" + app.Path); strings.Contains(p.Body, "/-/settings/ci_cd") {
		t.Error("a Developer's project page links to the settings")
	}
	if p := d.get(settings); p.Status != http.StatusForbidden {
		t.Fatalf("a Developer on the settings: %d, want 403", p.Status)
	}
	if p := d.post("/"+app.Path, settings+"/job_token_scope", url.Values{"which": {"outbound"}, "enabled": {"false"}}); p.Status != http.StatusForbidden {
		t.Fatalf("a Developer's toggle: %d, want 403", p.Status)
	}
	if sc := scope(); sc["outbound_enabled"] != true {
		t.Fatalf("a Developer's refused toggle changed the scope: %v", sc)
	}
}
