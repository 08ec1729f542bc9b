package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestPipelineButtons: a Developer plays a manual job, cancels the
// pipeline and retries it from the pages, as the API would; a Reporter
// sees no buttons and is refused the posts.
func TestPipelineButtons(t *testing.T) {
	t.Parallel()
	s := testserver.New(t, testserver.Options{})
	dev := userWithPassword(t, s, "dev", "developer password")
	rep := userWithPassword(t, s, "rep", "reporter password")
	grp := s.CreateGroup(t, "team", 0, "private")
	app := s.CreateProject(t, grp, "app", "private")
	s.AddMember(t, "projects", app.ID, dev.ID, 30)
	s.AddMember(t, "projects", app.ID, rep.ID, 20)
	s.PushCI(t, app.Path, dev, map[string]string{".gitlab-ci.yml": "build:\n  script: [echo hi]\ndeploy:\n  script: [echo deploy]\n  when: manual\n"})

	api := testserver.API + "/projects/" + testserver.Itoa(app.ID)
	jobs := func() map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, j := range s.Expect(t, "GET", api+"/jobs", s.RootToken, nil, 200).List(t) {
			out[j["name"].(string)] = j
		}
		return out
	}
	js := jobs()
	pipeline := int64(js["build"]["pipeline"].(map[string]any)["id"].(float64))
	deploy := int64(js["deploy"]["id"].(float64))
	if js["deploy"]["status"] != "manual" {
		t.Fatalf("deploy is %v, want manual", js["deploy"]["status"])
	}
	pipelinePage := fmt.Sprintf("/%s/-/pipelines/%d", app.Path, pipeline)

	r := newBrowser(t, s)
	r.signIn("rep", "reporter password")
	s.Remember(r.cookie("_ciwarden_session"))
	p := r.get(pipelinePage)
	if p.Status != 200 || strings.Contains(p.Body, "Play") || strings.Contains(p.Body, "Cancel pipeline") {
		t.Fatalf("a Reporter's pipeline page (%d) shows buttons:\n%s", p.Status, p.Body)
	}
	if p := r.post(pipelinePage, fmt.Sprintf("/%s/-/jobs/%d/play", app.Path, deploy), url.Values{}); p.Status != http.StatusForbidden {
		t.Fatalf("a Reporter's play: %d, want 403", p.Status)
	}

	d := newBrowser(t, s)
	d.signIn("dev", "developer password")
	s.Remember(d.cookie("_ciwarden_session"))
	mustContain(t, d.get(pipelinePage), "▶ Play", "Cancel pipeline")
	if p := d.post(pipelinePage, fmt.Sprintf("/%s/-/jobs/%d/play", app.Path, deploy), url.Values{}); p.Status != http.StatusSeeOther {
		t.Fatalf("play: %d\n%s", p.Status, p.Body)
	}
	if st := jobs()["deploy"]["status"]; st != "pending" {
		t.Fatalf("deploy after play: %v, want pending", st)
	}
	if p := d.post(pipelinePage, fmt.Sprintf("/%s/-/jobs/%d/play", app.Path, deploy), url.Values{}); p.Status != http.StatusBadRequest {
		t.Fatalf("playing a job that is no longer manual: %d, want 400", p.Status)
	}
	if p := d.post(pipelinePage, pipelinePage+"/cancel", url.Values{}); p.Status != http.StatusSeeOther {
		t.Fatalf("cancel: %d\n%s", p.Status, p.Body)
	}
	pl := s.Expect(t, "GET", fmt.Sprintf("%s/pipelines/%d", api, pipeline), s.RootToken, nil, 200).Object(t)
	if pl["status"] != "canceled" {
		t.Fatalf("pipeline after cancel: %v", pl["status"])
	}
	mustContain(t, d.get(pipelinePage), "Retry failed jobs")
	if p := d.post(pipelinePage, pipelinePage+"/retry", url.Values{}); p.Status != http.StatusSeeOther {
		t.Fatalf("retry: %d\n%s", p.Status, p.Body)
	}
	pl = s.Expect(t, "GET", fmt.Sprintf("%s/pipelines/%d", api, pipeline), s.RootToken, nil, 200).Object(t)
	if pl["status"] == "canceled" {
		t.Fatalf("pipeline after retry: still canceled")
	}
}
