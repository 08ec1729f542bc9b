package authz_test

import (
	"net/http"
	"testing"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
)

// TestArtifactActions spells out, from GitLab's permissions table, who may
// download and delete job artifacts on each visibility.
func TestArtifactActions(t *testing.T) {
	type row struct {
		caller string
		vis    model.Visibility
		read   int // status of ReadJobArtifacts
		del    int // status of DeleteJobArtifacts
	}
	byName := map[string]caller{}
	for _, c := range callers {
		byName[c.name] = c
	}
	const ok, unauth, forbidden, hidden = http.StatusOK, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound
	rows := []row{
		{"anonymous", model.Public, ok, unauth},
		{"anonymous", model.Internal, hidden, unauth},
		{"anonymous", model.Private, hidden, unauth},
		{"non_member", model.Public, ok, forbidden},
		{"non_member", model.Internal, ok, forbidden},
		{"non_member", model.Private, hidden, hidden},
		{"guest", model.Public, ok, forbidden},
		{"guest", model.Private, forbidden, forbidden},
		{"reporter", model.Private, ok, forbidden},
		{"developer", model.Private, ok, forbidden},
		{"maintainer", model.Private, ok, ok},
		{"owner", model.Internal, ok, ok},
		{"admin", model.Private, ok, ok},
		{"read_api_maintainer", model.Private, ok, forbidden},
	}
	for _, r := range rows {
		c := byName[r.caller]
		tg := authz.Target{Kind: authz.Project, Visibility: r.vis, Level: c.level}
		if got := authz.Decide(c.subject(), tg, authz.ReadJobArtifacts); got.Status != r.read {
			t.Errorf("%s on %s: read artifacts %+v, want %d", r.caller, r.vis, got, r.read)
		}
		if got := authz.Decide(c.subject(), tg, authz.DeleteJobArtifacts); got.Status != r.del {
			t.Errorf("%s on %s: delete artifacts %+v, want %d", r.caller, r.vis, got, r.del)
		}
	}
}
