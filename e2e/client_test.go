package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// newClient is GitLab's own Go client pointed at s; an empty token makes
// an anonymous client. Retries are off so that a failure shows at once.
func newClient(t *testing.T, s *testserver.Server, token string) *gitlab.Client {
	t.Helper()
	c, err := gitlab.NewClient(token, gitlab.WithBaseURL(s.URL+api), gitlab.WithoutRetries())
	if err != nil {
		t.Fatalf("gitlab.NewClient: %v", err)
	}
	return c
}

// wantStatus checks that err is a *gitlab.ErrorResponse with status code.
func wantStatus(t *testing.T, err error, code int) {
	t.Helper()
	var er *gitlab.ErrorResponse
	if !errors.As(err, &er) {
		t.Fatalf("error %v (%T), want a *gitlab.ErrorResponse with status %d", err, err, code)
	}
	if er.StatusCode != code {
		t.Fatalf("error status %d (%v), want %d", er.StatusCode, err, code)
	}
}

func must[T any](t *testing.T, what string) func(v T, resp *gitlab.Response, err error) T {
	return func(v T, resp *gitlab.Response, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

func TestGitLabClient(t *testing.T) { forEachDialect(t, testGitLabClient) }

func testGitLabClient(t *testing.T, s *testserver.Server) {
	root := newClient(t, s, s.RootToken)

	// Users.
	me := must[*gitlab.User](t, "CurrentUser")(root.Users.CurrentUser())
	if me.Username != "root" || !me.IsAdmin {
		t.Errorf("CurrentUser: %q admin=%v, want root admin", me.Username, me.IsAdmin)
	}
	mkUser := func(name string) *gitlab.User {
		t.Helper()
		u := must[*gitlab.User](t, "CreateUser "+name)(root.Users.CreateUser(&gitlab.CreateUserOptions{
			Username: gitlab.Ptr(name), Name: gitlab.Ptr("User " + name), Email: gitlab.Ptr(name + "@example.com"),
			ForceRandomPassword: gitlab.Ptr(true),
		}))
		if u.ID == 0 || u.Username != name || u.Email != name+"@example.com" || u.State != "active" {
			t.Errorf("CreateUser %s: %+v", name, u)
		}
		return u
	}
	alice, bob, carol := mkUser("alice"), mkUser("bob"), mkUser("carol")
	got := must[*gitlab.User](t, "GetUser")(root.Users.GetUser(alice.ID, &gitlab.GetUserOptions{}))
	if got.ID != alice.ID || got.Username != "alice" || got.Name != "User alice" {
		t.Errorf("GetUser: %+v", got)
	}
	_, _, err := root.Users.GetUser(99999, &gitlab.GetUserOptions{})
	wantStatus(t, err, http.StatusNotFound)
	if !errors.Is(err, gitlab.ErrNotFound) {
		t.Errorf("GetUser of nobody: errors.Is(err, gitlab.ErrNotFound) is false for %v", err)
	}

	// Personal access tokens.
	mkToken := func(u *gitlab.User, scopes ...string) *gitlab.PersonalAccessToken {
		t.Helper()
		expires := gitlab.ISOTime(time.Now().UTC().AddDate(0, 1, 0))
		pat := must[*gitlab.PersonalAccessToken](t, "CreatePersonalAccessToken")(root.Users.CreatePersonalAccessToken(u.ID,
			&gitlab.CreatePersonalAccessTokenOptions{Name: gitlab.Ptr("client"), Scopes: &scopes, ExpiresAt: &expires}))
		if pat.Token == "" || pat.UserID != u.ID || !slices.Equal(pat.Scopes, scopes) || !pat.Active || pat.Revoked ||
			pat.ExpiresAt == nil || pat.ExpiresAt.String() != expires.String() {
			t.Errorf("CreatePersonalAccessToken: %+v", pat)
		}
		s.Remember(pat.Token)
		return pat
	}
	alicePAT, bobPAT, carolPAT := mkToken(alice, "api"), mkToken(bob, "api"), mkToken(carol, "api", "read_api")
	asAlice, asBob, asCarol := newClient(t, s, alicePAT.Token), newClient(t, s, bobPAT.Token), newClient(t, s, carolPAT.Token)
	anon := newClient(t, s, "")
	if u := must[*gitlab.User](t, "CurrentUser as alice")(asAlice.Users.CurrentUser()); u.ID != alice.ID {
		t.Errorf("CurrentUser as alice: %+v", u)
	}
	_, _, err = anon.Users.CurrentUser()
	wantStatus(t, err, http.StatusUnauthorized)

	tokens := must[[]*gitlab.PersonalAccessToken](t, "ListPersonalAccessTokens")(asAlice.PersonalAccessTokens.ListPersonalAccessTokens(nil))
	if len(tokens) != 1 || tokens[0].ID != alicePAT.ID || tokens[0].Token != "" || !tokens[0].Active {
		t.Errorf("alice's tokens: %+v", tokens)
	}
	_, err = asAlice.PersonalAccessTokens.RevokePersonalAccessTokenByID(carolPAT.ID)
	wantStatus(t, err, http.StatusNotFound)
	if _, err := root.PersonalAccessTokens.RevokePersonalAccessTokenByID(carolPAT.ID); err != nil {
		t.Fatalf("RevokePersonalAccessTokenByID: %v", err)
	}
	_, _, err = asCarol.Users.CurrentUser()
	wantStatus(t, err, http.StatusUnauthorized)
	tokens = must[[]*gitlab.PersonalAccessToken](t, "ListPersonalAccessTokens for carol")(root.PersonalAccessTokens.ListPersonalAccessTokens(
		&gitlab.ListPersonalAccessTokensOptions{UserID: gitlab.Ptr(carol.ID)}))
	if len(tokens) != 1 || !tokens[0].Revoked || tokens[0].Active {
		t.Errorf("carol's tokens after revocation: %+v", tokens)
	}

	// Groups, nested.
	top := must[*gitlab.Group](t, "CreateGroup top")(root.Groups.CreateGroup(&gitlab.CreateGroupOptions{
		Name: gitlab.Ptr("Top"), Path: gitlab.Ptr("top"), Visibility: gitlab.Ptr(gitlab.InternalVisibility)}))
	sub := must[*gitlab.Group](t, "CreateGroup sub")(root.Groups.CreateGroup(&gitlab.CreateGroupOptions{
		Name: gitlab.Ptr("Sub"), Path: gitlab.Ptr("sub"), ParentID: gitlab.Ptr(top.ID), Visibility: gitlab.Ptr(gitlab.PrivateVisibility)}))
	if sub.ParentID != top.ID || sub.FullPath != "top/sub" || sub.Visibility != gitlab.PrivateVisibility || top.ParentID != 0 {
		t.Errorf("CreateGroup: top %+v, sub %+v", top, sub)
	}
	g := must[*gitlab.Group](t, "GetGroup top/sub")(root.Groups.GetGroup("top/sub", nil))
	if g.ID != sub.ID || g.FullPath != "top/sub" || g.FullName != "Top / Sub" || g.ParentID != top.ID {
		t.Errorf("GetGroup(top/sub): %+v", g)
	}
	subs := must[[]*gitlab.Group](t, "ListSubGroups")(root.Groups.ListSubGroups(top.ID, nil))
	if len(subs) != 1 || subs[0].ID != sub.ID {
		t.Errorf("ListSubGroups(top): %+v", subs)
	}
	g = must[*gitlab.Group](t, "UpdateGroup")(root.Groups.UpdateGroup(sub.ID, &gitlab.UpdateGroupOptions{Description: gitlab.Ptr("nested")}))
	if g.Description != "nested" || g.ID != sub.ID {
		t.Errorf("UpdateGroup: %+v", g)
	}
	// A subgroup may not be more visible than its parent.
	_, _, err = root.Groups.UpdateGroup(sub.ID, &gitlab.UpdateGroupOptions{Visibility: gitlab.Ptr(gitlab.PublicVisibility)})
	wantStatus(t, err, http.StatusBadRequest)
	_, _, err = asAlice.Groups.GetGroup("top/sub", nil)
	wantStatus(t, err, http.StatusNotFound)

	// Projects.
	p := must[*gitlab.Project](t, "CreateProject")(root.Projects.CreateProject(&gitlab.CreateProjectOptions{
		Name: gitlab.Ptr("App"), Path: gitlab.Ptr("app"), NamespaceID: gitlab.Ptr(sub.ID), Visibility: gitlab.Ptr(gitlab.PrivateVisibility)}))
	if p.PathWithNamespace != "top/sub/app" || p.Visibility != gitlab.PrivateVisibility || p.Namespace == nil || p.Namespace.ID != sub.ID ||
		p.Namespace.FullPath != "top/sub" || p.DefaultBranch != "main" {
		t.Errorf("CreateProject: %+v", p)
	}
	gp := must[*gitlab.Project](t, "GetProject by path")(root.Projects.GetProject("top/sub/app", nil))
	if gp.ID != p.ID || gp.Name != "App" || gp.NameWithNamespace != "Top / Sub / App" {
		t.Errorf("GetProject(top/sub/app): %+v", gp)
	}
	inGroup := must[[]*gitlab.Project](t, "ListGroupProjects")(root.Groups.ListGroupProjects(sub.ID, nil))
	if len(inGroup) != 1 || inGroup[0].ID != p.ID {
		t.Errorf("ListGroupProjects(sub): %+v", inGroup)
	}
	inGroup = must[[]*gitlab.Project](t, "ListGroupProjects with subgroups")(root.Groups.ListGroupProjects(top.ID,
		&gitlab.ListGroupProjectsOptions{IncludeSubGroups: gitlab.Ptr(true)}))
	if len(inGroup) != 1 || inGroup[0].ID != p.ID {
		t.Errorf("ListGroupProjects(top, include_subgroups): %+v", inGroup)
	}
	ep := must[*gitlab.Project](t, "EditProject")(root.Projects.EditProject(p.ID, &gitlab.EditProjectOptions{
		Description: gitlab.Ptr("the app"), DefaultBranch: gitlab.Ptr("trunk")}))
	if ep.Description != "the app" || ep.DefaultBranch != "trunk" || ep.ID != p.ID {
		t.Errorf("EditProject: %+v", ep)
	}

	// Members: direct on the project, inherited from the top group.
	pm := must[*gitlab.ProjectMember](t, "AddProjectMember")(root.ProjectMembers.AddProjectMember(p.ID, &gitlab.AddProjectMemberOptions{
		UserID: alice.ID, AccessLevel: gitlab.Ptr(gitlab.DeveloperPermissions)}))
	if pm.ID != alice.ID || pm.Username != "alice" || pm.AccessLevel != gitlab.DeveloperPermissions {
		t.Errorf("AddProjectMember: %+v", pm)
	}
	_, _, err = root.ProjectMembers.AddProjectMember(p.ID, &gitlab.AddProjectMemberOptions{UserID: alice.ID, AccessLevel: gitlab.Ptr(gitlab.GuestPermissions)})
	wantStatus(t, err, http.StatusConflict)
	gm := must[*gitlab.GroupMember](t, "AddGroupMember")(root.GroupMembers.AddGroupMember(top.ID, &gitlab.AddGroupMemberOptions{
		UserID: gitlab.Ptr(bob.ID), AccessLevel: gitlab.Ptr(gitlab.MaintainerPermissions)}))
	if gm.ID != bob.ID || gm.AccessLevel != gitlab.MaintainerPermissions {
		t.Errorf("AddGroupMember: %+v", gm)
	}
	groupMembers := must[[]*gitlab.GroupMember](t, "ListGroupMembers")(root.Groups.ListGroupMembers(top.ID, nil))
	levels := map[int64]gitlab.AccessLevelValue{}
	for _, m := range groupMembers {
		levels[m.ID] = m.AccessLevel
	}
	if len(levels) != 2 || levels[me.ID] != gitlab.OwnerPermissions || levels[bob.ID] != gitlab.MaintainerPermissions {
		t.Errorf("ListGroupMembers(top): %v", levels)
	}
	pm = must[*gitlab.ProjectMember](t, "GetProjectMember")(asAlice.ProjectMembers.GetProjectMember("top/sub/app", alice.ID))
	if pm.AccessLevel != gitlab.DeveloperPermissions {
		t.Errorf("GetProjectMember(alice): %+v", pm)
	}
	_, _, err = root.ProjectMembers.GetProjectMember(p.ID, bob.ID)
	wantStatus(t, err, http.StatusNotFound)
	pm = must[*gitlab.ProjectMember](t, "GetInheritedProjectMember")(asBob.ProjectMembers.GetInheritedProjectMember(p.ID, bob.ID))
	if pm.ID != bob.ID || pm.AccessLevel != gitlab.MaintainerPermissions {
		t.Errorf("GetInheritedProjectMember(bob): %+v", pm)
	}
	all := must[[]*gitlab.ProjectMember](t, "ListAllProjectMembers")(root.ProjectMembers.ListAllProjectMembers(p.ID, nil))
	levels = map[int64]gitlab.AccessLevelValue{}
	for _, m := range all {
		levels[m.ID] = m.AccessLevel
	}
	want := map[int64]gitlab.AccessLevelValue{me.ID: gitlab.OwnerPermissions, alice.ID: gitlab.DeveloperPermissions, bob.ID: gitlab.MaintainerPermissions}
	if fmt.Sprint(levels) != fmt.Sprint(want) {
		t.Errorf("ListAllProjectMembers: %v, want %v", levels, want)
	}
	// A developer may not manage members; the inherited maintainer may.
	_, _, err = asAlice.ProjectMembers.EditProjectMember(p.ID, alice.ID, &gitlab.EditProjectMemberOptions{AccessLevel: gitlab.Ptr(gitlab.MaintainerPermissions)})
	wantStatus(t, err, http.StatusForbidden)
	pm = must[*gitlab.ProjectMember](t, "EditProjectMember")(asBob.ProjectMembers.EditProjectMember(p.ID, alice.ID,
		&gitlab.EditProjectMemberOptions{AccessLevel: gitlab.Ptr(gitlab.ReporterPermissions)}))
	if pm.AccessLevel != gitlab.ReporterPermissions {
		t.Errorf("EditProjectMember: %+v", pm)
	}
	// Editing needs Maintainer: alice the developer, now a reporter, is refused.
	_, _, err = asAlice.Projects.EditProject(p.ID, &gitlab.EditProjectOptions{Description: gitlab.Ptr("mine")})
	wantStatus(t, err, http.StatusForbidden)
	if _, err := asBob.ProjectMembers.DeleteProjectMember(p.ID, alice.ID); err != nil {
		t.Fatalf("DeleteProjectMember: %v", err)
	}
	_, _, err = root.ProjectMembers.GetProjectMember(p.ID, alice.ID)
	wantStatus(t, err, http.StatusNotFound)
	// No longer a member of a private project: it does not exist for her.
	_, _, err = asAlice.Projects.GetProject(p.ID, nil)
	wantStatus(t, err, http.StatusNotFound)
	_, _, err = anon.Projects.GetProject("top/sub/app", nil)
	wantStatus(t, err, http.StatusNotFound)

	// A personal project: found by "user/project", private to its owner.
	own := must[*gitlab.Project](t, "CreateProject in own namespace")(asBob.Projects.CreateProject(&gitlab.CreateProjectOptions{Name: gitlab.Ptr("Notes")}))
	if own.PathWithNamespace != "bob/notes" || own.Visibility != gitlab.PrivateVisibility || own.Namespace == nil || own.Namespace.Kind != "user" {
		t.Errorf("personal project: %+v", own)
	}
	if got := must[*gitlab.Project](t, "GetProject bob/notes")(asBob.Projects.GetProject("bob/notes", nil)); got.ID != own.ID {
		t.Errorf("GetProject(bob/notes): %+v", got)
	}
	_, _, err = asAlice.Projects.GetProject("bob/notes", nil)
	wantStatus(t, err, http.StatusNotFound)
	_, _, err = asAlice.Projects.CreateProject(&gitlab.CreateProjectOptions{Name: gitlab.Ptr("Intrusion"), NamespaceID: gitlab.Ptr(own.Namespace.ID)})
	wantStatus(t, err, http.StatusNotFound)
	if _, err := asBob.Projects.DeleteProject(own.ID, nil); err != nil {
		t.Fatalf("DeleteProject(own): %v", err)
	}

	// Listing with the client's pagination: 5 projects, 2 per page.
	for i := range 4 {
		must[*gitlab.Project](t, "CreateProject")(root.Projects.CreateProject(&gitlab.CreateProjectOptions{
			Name: gitlab.Ptr(fmt.Sprintf("Extra %d", i)), NamespaceID: gitlab.Ptr(top.ID)}))
	}
	var ids []int64
	opt := &gitlab.ListProjectsOptions{ListOptions: gitlab.ListOptions{PerPage: 2, Page: 1}, OrderBy: gitlab.Ptr("id"), Sort: gitlab.Ptr("asc")}
	for pages := 0; ; pages++ {
		ps, resp, err := root.Projects.ListProjects(opt)
		if err != nil {
			t.Fatalf("ListProjects page %d: %v", opt.Page, err)
		}
		if resp.TotalItems != 5 || resp.TotalPages != 3 || resp.ItemsPerPage != 2 || resp.CurrentPage != opt.Page {
			t.Errorf("ListProjects page %d: total %d pages %d per page %d current %d", opt.Page,
				resp.TotalItems, resp.TotalPages, resp.ItemsPerPage, resp.CurrentPage)
		}
		for _, p := range ps {
			ids = append(ids, p.ID)
		}
		if resp.NextPage == 0 || pages > 5 {
			break
		}
		if resp.NextPage != opt.Page+1 {
			t.Errorf("NextPage %d after page %d", resp.NextPage, opt.Page)
		}
		opt.Page = resp.NextPage
	}
	if len(ids) != 5 || !slices.IsSorted(ids) || ids[0] != p.ID {
		t.Errorf("ListProjects over all pages: %v", ids)
	}

	// Blocking, through the client.
	if _, err := root.Users.BlockUser(alice.ID); err != nil {
		t.Fatalf("BlockUser: %v", err)
	}
	_, _, err = asAlice.Users.CurrentUser()
	wantStatus(t, err, http.StatusUnauthorized)
	blocked := must[[]*gitlab.User](t, "ListUsers blocked")(root.Users.ListUsers(&gitlab.ListUsersOptions{Blocked: gitlab.Ptr(true)}))
	if len(blocked) != 1 || blocked[0].ID != alice.ID || blocked[0].State != "blocked" {
		t.Errorf("ListUsers(blocked): %+v", blocked)
	}
	everyone := must[[]*gitlab.User](t, "ListUsers")(root.Users.ListUsers(&gitlab.ListUsersOptions{ListOptions: gitlab.ListOptions{PerPage: 100}}))
	if len(everyone) != 4 {
		t.Errorf("ListUsers: %d users, want root, alice, bob, carol", len(everyone))
	}

	// Deleting: the maintainer may not, the owner (root) may.
	_, err = asBob.Projects.DeleteProject(p.ID, nil)
	wantStatus(t, err, http.StatusForbidden)
	resp, err := root.Projects.DeleteProject("top/sub/app", nil)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DeleteProject: %v", err)
	}
	_, _, err = root.Projects.GetProject(p.ID, nil)
	wantStatus(t, err, http.StatusNotFound)
}
