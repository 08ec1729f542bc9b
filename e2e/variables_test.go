package e2e

import (
	"net/http"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestGitLabClientVariables: GitLab's Go client drives the project, group
// and instance variables APIs (issue 16).
func TestGitLabClientVariables(t *testing.T) { forEachDialect(t, testGitLabClientVariables) }

func testGitLabClientVariables(t *testing.T, s *testserver.Server) {
	root := newClient(t, s, s.RootToken)
	const secret = "client-Secret_value9"
	s.Remember(secret)
	group := s.CreateGroup(t, "vars", 0, "private")
	proj := s.CreateProject(t, group, "app", "private")

	// Project variables: two scopes of one key, a hidden one.
	pv := root.ProjectVariables
	v := must[*gitlab.ProjectVariable](t, "CreateVariable")(pv.CreateVariable(proj.ID, &gitlab.CreateProjectVariableOptions{
		Key: gitlab.Ptr("TOKEN"), Value: gitlab.Ptr(secret), Masked: gitlab.Ptr(true), Protected: gitlab.Ptr(true),
		Description: gitlab.Ptr("the deploy token"),
	}))
	if v.Key != "TOKEN" || v.Value != secret || !v.Masked || !v.Protected || v.EnvironmentScope != "*" ||
		v.VariableType != gitlab.EnvVariableType || v.Description != "the deploy token" {
		t.Errorf("CreateVariable: %+v", v)
	}
	must[*gitlab.ProjectVariable](t, "CreateVariable scoped")(pv.CreateVariable(proj.ID, &gitlab.CreateProjectVariableOptions{
		Key: gitlab.Ptr("TOKEN"), Value: gitlab.Ptr("staging"), EnvironmentScope: gitlab.Ptr("staging/*"),
		VariableType: gitlab.Ptr(gitlab.FileVariableType),
	}))
	_, _, err := pv.CreateVariable(proj.ID, &gitlab.CreateProjectVariableOptions{Key: gitlab.Ptr("TOKEN"), Value: gitlab.Ptr("x")})
	wantStatus(t, err, http.StatusBadRequest)
	h := must[*gitlab.ProjectVariable](t, "CreateVariable hidden")(pv.CreateVariable(proj.ID, &gitlab.CreateProjectVariableOptions{
		Key: gitlab.Ptr("HIDDEN"), Value: gitlab.Ptr(secret), MaskedAndHidden: gitlab.Ptr(true),
	}))
	if !h.Hidden || !h.Masked || h.Value != "" {
		t.Errorf("hidden variable: %+v", h)
	}
	list := must[[]*gitlab.ProjectVariable](t, "ListVariables")(pv.ListVariables(proj.ID, nil))
	if len(list) != 3 {
		t.Errorf("ListVariables: %d variables, want 3", len(list))
	}
	_, _, err = pv.GetVariable(proj.ID, "TOKEN", nil)
	wantStatus(t, err, http.StatusConflict)
	got := must[*gitlab.ProjectVariable](t, "GetVariable filtered")(pv.GetVariable(proj.ID, "TOKEN",
		&gitlab.GetProjectVariableOptions{Filter: &gitlab.VariableFilter{EnvironmentScope: "staging/*"}}))
	if got.Value != "staging" || got.VariableType != gitlab.FileVariableType {
		t.Errorf("GetVariable staging/*: %+v", got)
	}
	got = must[*gitlab.ProjectVariable](t, "UpdateVariable")(pv.UpdateVariable(proj.ID, "TOKEN", &gitlab.UpdateProjectVariableOptions{
		Value: gitlab.Ptr("staging-2"), Filter: &gitlab.VariableFilter{EnvironmentScope: "staging/*"},
	}))
	if got.Value != "staging-2" || got.EnvironmentScope != "staging/*" {
		t.Errorf("UpdateVariable: %+v", got)
	}
	if _, err := pv.RemoveVariable(proj.ID, "TOKEN", &gitlab.RemoveProjectVariableOptions{Filter: &gitlab.VariableFilter{EnvironmentScope: "staging/*"}}); err != nil {
		t.Fatalf("RemoveVariable: %v", err)
	}
	got = must[*gitlab.ProjectVariable](t, "GetVariable")(pv.GetVariable(proj.ID, "TOKEN", nil))
	if got.Value != secret {
		t.Errorf("GetVariable after removing the other scope: %+v", got)
	}

	// Group variables.
	gv := root.GroupVariables
	g := must[*gitlab.GroupVariable](t, "group CreateVariable")(gv.CreateVariable(group, &gitlab.CreateGroupVariableOptions{
		Key: gitlab.Ptr("GROUP_VAR"), Value: gitlab.Ptr("group-value"), Raw: gitlab.Ptr(true),
	}))
	if g.Key != "GROUP_VAR" || g.Value != "group-value" || !g.Raw {
		t.Errorf("group CreateVariable: %+v", g)
	}
	g = must[*gitlab.GroupVariable](t, "group UpdateVariable")(gv.UpdateVariable(group, "GROUP_VAR", &gitlab.UpdateGroupVariableOptions{Protected: gitlab.Ptr(true)}))
	if !g.Protected || g.Value != "group-value" {
		t.Errorf("group UpdateVariable: %+v", g)
	}
	if gl := must[[]*gitlab.GroupVariable](t, "group ListVariables")(gv.ListVariables(group, nil)); len(gl) != 1 {
		t.Errorf("group ListVariables: %d, want 1", len(gl))
	}
	if _, err := gv.RemoveVariable(group, "GROUP_VAR", nil); err != nil {
		t.Fatalf("group RemoveVariable: %v", err)
	}
	_, _, err = gv.GetVariable(group, "GROUP_VAR", nil)
	wantStatus(t, err, http.StatusNotFound)

	// Instance variables, for administrators only.
	iv := root.InstanceVariables
	i := must[*gitlab.InstanceVariable](t, "instance CreateVariable")(iv.CreateVariable(&gitlab.CreateInstanceVariableOptions{
		Key: gitlab.Ptr("INSTANCE_VAR"), Value: gitlab.Ptr(secret), Masked: gitlab.Ptr(true),
	}))
	if i.Key != "INSTANCE_VAR" || i.Value != secret || !i.Masked {
		t.Errorf("instance CreateVariable: %+v", i)
	}
	i = must[*gitlab.InstanceVariable](t, "instance UpdateVariable")(iv.UpdateVariable("INSTANCE_VAR", &gitlab.UpdateInstanceVariableOptions{Description: gitlab.Ptr("everywhere")}))
	if i.Description != "everywhere" {
		t.Errorf("instance UpdateVariable: %+v", i)
	}
	if il := must[[]*gitlab.InstanceVariable](t, "instance ListVariables")(iv.ListVariables(nil)); len(il) != 1 {
		t.Errorf("instance ListVariables: %d, want 1", len(il))
	}
	u := s.CreateUser(t, "dev")
	_, _, err = newClient(t, s, u.Token).InstanceVariables.ListVariables(nil)
	wantStatus(t, err, http.StatusForbidden)
	if _, err := iv.RemoveVariable("INSTANCE_VAR"); err != nil {
		t.Fatalf("instance RemoveVariable: %v", err)
	}
}
