package registry_test

// Cleanup policies (container_expiration_policy): set through PUT
// /projects/:id by a Maintainer, validated as GitLab does, run by the
// server's scheduler at a chosen time (RunDuePolicies, the injectable
// clock), deleting by the bulk tag deletion's rule, once per due time.

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

func pushAged(t *testing.T, s *testserver.Server, u testserver.User, path string, age time.Duration) {
	t.Helper()
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.CreatedAt(img, v1.Time{Time: time.Now().Add(-age)}); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, s, path), img, basicAuth(u.Username, u.Token)); err != nil {
		t.Fatalf("push %s: %v", path, err)
	}
}

func policyOf(t *testing.T, s *testserver.Server, project string, token string) map[string]any {
	t.Helper()
	p, _ := s.Expect(t, "GET", project, token, nil, 200).Object(t)["container_expiration_policy"].(map[string]any)
	if p == nil {
		t.Fatal("the project entity has no container_expiration_policy")
	}
	return p
}

func TestContainerPolicy(t *testing.T) {
	t.Parallel()
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		team := s.NewTeam(t, "private")
		project := "/api/v4/projects/" + testserver.Itoa(team.Project.ID)
		ctx := context.Background()

		// GitLab's defaults, disabled, no next run.
		got, _ := json.Marshal(policyOf(t, s, project, team.Maint.Token))
		if want := `{"cadence":"1d","enabled":false,"keep_n":10,"name_regex":null,"name_regex_delete":null,"name_regex_keep":null,"next_run_at":null,"older_than":"90d"}`; string(got) != want {
			t.Errorf("the default policy: %s, want %s", got, want)
		}

		attrs := func(m map[string]any) map[string]any {
			return map[string]any{"container_expiration_policy_attributes": m}
		}
		// Maintainer only: a Developer may not change it.
		s.Expect(t, "PUT", project, team.Dev.Token, attrs(map[string]any{"enabled": true}), 403)
		// GitLab's values only; a refused change changes nothing.
		for _, c := range []struct {
			m    map[string]any
			body string
		}{
			{map[string]any{"enabled": true, "cadence": "2d"}, `{"message":{"container_expiration_policy.cadence":["is not included in the list"]}}`},
			{map[string]any{"enabled": true, "keep_n": 3}, `{"message":{"container_expiration_policy.keep_n":["is not included in the list"]}}`},
			{map[string]any{"enabled": true, "older_than": "1d"}, `{"message":{"container_expiration_policy.older_than":["is not included in the list"]}}`},
			{map[string]any{"enabled": true, "name_regex": "(v"}, `{"message":{"container_expiration_policy.name_regex":["not valid RE2 syntax"]}}`},
			{map[string]any{"enabled": "yes"}, `container_expiration_policy_attributes[enabled] is invalid`},
		} {
			r := s.Call(t, "PUT", project, testserver.PrivateToken(team.Maint.Token), attrs(c.m))
			if r.Status != 400 || !strings.Contains(string(r.Body), c.body) {
				t.Errorf("PUT %v: %s, want 400 %s", c.m, r, c.body)
			}
		}
		if p := policyOf(t, s, project, team.Maint.Token); p["enabled"] != false || p["cadence"] != "1d" {
			t.Errorf("the policy after refused changes: %v", p)
		}

		before := time.Now()
		r := s.Expect(t, "PUT", project, team.Maint.Token, attrs(map[string]any{"enabled": true, "cadence": "7d", "keep_n": 1,
			"older_than": nil, "name_regex_delete": "v.*", "name_regex_keep": "v-keep"}), 200).Object(t)
		p := r["container_expiration_policy"].(map[string]any)
		next, err := time.Parse(time.RFC3339, p["next_run_at"].(string))
		if err != nil || next.Before(before.Add(7*24*time.Hour-time.Second)) || next.After(time.Now().Add(7*24*time.Hour)) {
			t.Errorf("next_run_at %v (%v), want a week from now", p["next_run_at"], err)
		}
		if p["enabled"] != true || p["keep_n"] != 1.0 || p["older_than"] != nil || p["name_regex"] != "v.*" || p["name_regex_delete"] != "v.*" || p["name_regex_keep"] != "v-keep" {
			t.Errorf("the policy set: %v", p)
		}
		// A form's attrs[field]=value, here in the query string, is read too.
		s.Expect(t, "PUT", project+"?container_expiration_policy_attributes[keep_n]=5", team.Maint.Token, nil, 200)
		if p := policyOf(t, s, project, team.Maint.Token); p["keep_n"] != 5.0 || p["next_run_at"] == nil {
			t.Errorf("keep_n from a form: %v", p)
		}
		s.Expect(t, "PUT", project, team.Maint.Token, attrs(map[string]any{"keep_n": 1}), 200)

		for tag, age := range map[string]time.Duration{"v1": 72 * time.Hour, "v2": 48 * time.Hour, "v3": 0, "v-keep": 96 * time.Hour, "other": 96 * time.Hour} {
			pushAged(t, s, team.Dev, "grp/app:"+tag, age)
		}
		pushAged(t, s, team.Dev, "grp/app/sub:v9", 96*time.Hour)
		pushAged(t, s, team.Dev, "grp/app/sub:v10", 0)
		tags := func(repo string) string {
			t.Helper()
			var names []string
			for _, r := range s.Expect(t, "GET", project+"/registry/repositories?tags=true", team.Reporter.Token, nil, 200).List(t) {
				if r["path"] != repo {
					continue
				}
				for _, tg := range r["tags"].([]any) {
					names = append(names, tg.(map[string]any)["name"].(string))
				}
			}
			slices.Sort(names)
			return strings.Join(names, ",")
		}
		images := s.Srv.Images()
		// Not due yet: nothing happens.
		if err := images.RunDuePolicies(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
		if got := tags("grp/app"); got != "other,v-keep,v1,v2,v3" {
			t.Fatalf("tags before the policy is due: %s", got)
		}
		// Due: in every repository of the project, the v* tags but the
		// newest and v-keep go; other does not match.
		due := time.Now().Add(8 * 24 * time.Hour)
		if err := images.RunDuePolicies(ctx, due); err != nil {
			t.Fatal(err)
		}
		if got := tags("grp/app"); got != "other,v-keep,v3" {
			t.Errorf("grp/app after the policy: %s, want other,v-keep,v3", got)
		}
		if got := tags("grp/app/sub"); got != "v10" {
			t.Errorf("grp/app/sub after the policy: %s, want v10", got)
		}
		// The run moved the next one a cadence past the sweep's time.
		next, _ = time.Parse(time.RFC3339, policyOf(t, s, project, team.Maint.Token)["next_run_at"].(string))
		if d := next.Sub(due); d < 7*24*time.Hour-time.Second || d > 7*24*time.Hour+time.Second {
			t.Errorf("next_run_at %v after a run at %v, want a week later", next, due)
		}
		// A due time is claimed once: a second claim of the same one fails.
		pushAged(t, s, team.Dev, "grp/app:v4", 0)
		st := s.Srv.Store()
		stored, err := st.ContainerPolicy(ctx, team.Project.ID)
		if err != nil {
			t.Fatal(err)
		}
		next = stored.NextRunAt // the stored value, not the entity's milliseconds
		if ok, err := st.ClaimContainerPolicy(ctx, team.Project.ID, next, next.Add(time.Hour)); err != nil || !ok {
			t.Fatalf("the first claim: %v %v", ok, err)
		}
		if ok, err := st.ClaimContainerPolicy(ctx, team.Project.ID, next, next.Add(time.Hour)); err != nil || ok {
			t.Fatalf("a second claim of the same due time: %v %v, want false", ok, err)
		}
		// Disabled: no next run, nothing deleted however late.
		s.Expect(t, "PUT", project, team.Maint.Token, attrs(map[string]any{"enabled": false}), 200)
		if p := policyOf(t, s, project, team.Maint.Token); p["next_run_at"] != nil {
			t.Errorf("a disabled policy's next_run_at: %v", p["next_run_at"])
		}
		if err := images.RunDuePolicies(ctx, due.AddDate(1, 0, 0)); err != nil {
			t.Fatal(err)
		}
		if got := tags("grp/app"); got != "other,v-keep,v3,v4" {
			t.Errorf("tags after a disabled policy's time: %s", got)
		}
	})
}
