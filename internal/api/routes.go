package api

import (
	"net/http"

	"github.com/ciwarden/ciwarden/internal/authz"
)

// Routes is the route table: every API endpoint, what it accepts, what it
// acts on and what it needs. `ciwarden routes` prints it.
func (a *API) Routes() []Route {
	return []Route{
		// Users
		{http.MethodGet, "/user", userAPI, NoTarget, authz.ReadCurrentUser, a.currentUser},
		{http.MethodGet, "/users", userAPI, NoTarget, authz.ListAllUsers, a.listUsers},
		{http.MethodPost, "/users", userAPI, NoTarget, authz.AdminUsers, a.createUser},
		{http.MethodGet, "/users/{user_id}", userAPI, NoTarget, authz.ReadUser, a.getUser},
		{http.MethodPost, "/users/{user_id}/block", userAPI, NoTarget, authz.AdminUsers, a.blockUser},
		{http.MethodPost, "/users/{user_id}/unblock", userAPI, NoTarget, authz.AdminUsers, a.unblockUser},

		// Personal access tokens
		{http.MethodPost, "/users/{user_id}/personal_access_tokens", userAPI, NoTarget, authz.AdminUsers, a.createPAT},
		{http.MethodGet, "/personal_access_tokens", userAPI, NoTarget, authz.ReadOwnTokens, a.listPATs},
		{http.MethodGet, "/personal_access_tokens/self", userAPI, NoTarget, authz.ReadOwnTokens, a.selfPAT},
		{http.MethodGet, "/personal_access_tokens/{token_id}", userAPI, NoTarget, authz.ReadOwnTokens, a.getPAT},
		{http.MethodDelete, "/personal_access_tokens/{token_id}", userAPI, NoTarget, authz.RevokeOwnToken, a.revokePAT},

		// Groups
		{http.MethodGet, "/groups", userAPI, NoTarget, authz.Browse, a.listGroups},
		{http.MethodPost, "/groups", userAPI, NoTarget, authz.CreateGroup, a.createGroup},
		{http.MethodGet, "/groups/{id}", userAPI, GroupTarget, authz.ReadGroup, a.getGroup},
		{http.MethodPut, "/groups/{id}", userAPI, GroupTarget, authz.UpdateGroup, a.updateGroup},
		{http.MethodDelete, "/groups/{id}", userAPI, GroupTarget, authz.RemoveGroup, a.deleteGroup},
		{http.MethodGet, "/groups/{id}/projects", userAPI, GroupTarget, authz.ReadGroup, a.groupProjects},
		{http.MethodGet, "/groups/{id}/subgroups", userAPI, GroupTarget, authz.ReadGroup, a.groupSubgroups},

		// Projects
		{http.MethodGet, "/projects", userAPI, NoTarget, authz.Browse, a.listProjects},
		{http.MethodPost, "/projects", userAPI, NoTarget, authz.CreateProject, a.createProject},
		{http.MethodGet, "/projects/{id}", userAPI, ProjectTarget, authz.ReadProject, a.getProject},
		{http.MethodPut, "/projects/{id}", userAPI, ProjectTarget, authz.UpdateProject, a.updateProject},
		{http.MethodDelete, "/projects/{id}", userAPI, ProjectTarget, authz.RemoveProject, a.deleteProject},

		// Members, of projects and of groups
		{http.MethodGet, "/projects/{id}/members", userAPI, ProjectTarget, authz.ReadProject, a.listMembers},
		{http.MethodGet, "/projects/{id}/members/all", userAPI, ProjectTarget, authz.ReadProject, a.listAllMembers},
		{http.MethodGet, "/projects/{id}/members/{user_id}", userAPI, ProjectTarget, authz.ReadProject, a.getMember},
		{http.MethodGet, "/projects/{id}/members/all/{user_id}", userAPI, ProjectTarget, authz.ReadProject, a.getAllMember},
		{http.MethodPost, "/projects/{id}/members", userAPI, ProjectTarget, authz.AdminProjectMembers, a.addMember},
		{http.MethodPut, "/projects/{id}/members/{user_id}", userAPI, ProjectTarget, authz.AdminProjectMembers, a.updateMember},
		{http.MethodDelete, "/projects/{id}/members/{user_id}", userAPI, ProjectTarget, authz.AdminProjectMembers, a.removeMember},
		{http.MethodGet, "/groups/{id}/members", userAPI, GroupTarget, authz.ReadGroup, a.listMembers},
		{http.MethodGet, "/groups/{id}/members/all", userAPI, GroupTarget, authz.ReadGroup, a.listAllMembers},
		{http.MethodGet, "/groups/{id}/members/{user_id}", userAPI, GroupTarget, authz.ReadGroup, a.getMember},
		{http.MethodGet, "/groups/{id}/members/all/{user_id}", userAPI, GroupTarget, authz.ReadGroup, a.getAllMember},
		{http.MethodPost, "/groups/{id}/members", userAPI, GroupTarget, authz.AdminGroupMembers, a.addMember},
		{http.MethodPut, "/groups/{id}/members/{user_id}", userAPI, GroupTarget, authz.AdminGroupMembers, a.updateMember},
		{http.MethodDelete, "/groups/{id}/members/{user_id}", userAPI, GroupTarget, authz.AdminGroupMembers, a.removeMember},
	}
}
