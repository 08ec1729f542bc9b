package api

import (
	"errors"
	"github.com/ciwarden/ciwarden/internal/authz"
	"net/http"
	"strings"

	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/projects"
)

// memberSource is the project or group a members route is about.
func (c *Ctx) memberSource() (kind string, id int64) {
	if c.Project != nil {
		return model.SourceProject, c.Project.ID
	}
	return model.SourceNamespace, c.Group.ID
}

// allMembers is the direct and inherited membership of the route's project
// or group: a group's traversal holds itself and its ancestors.
func (c *Ctx) allMembers() ([]*model.Member, error) {
	if c.Project != nil {
		return c.API.Store.MembersAll(c.Context(), c.Project.ID, c.Project.Namespace.Traversal)
	}
	return c.API.Store.MembersAll(c.Context(), 0, c.Group.Traversal)
}

func (a *API) listMembers(c *Ctx) error {
	kind, id := c.memberSource()
	ms, err := a.Store.Members(c.Context(), kind, id)
	if err != nil {
		return err
	}
	return a.writeMembers(c, ms)
}

func (a *API) listAllMembers(c *Ctx) error {
	ms, err := c.allMembers()
	if err != nil {
		return err
	}
	return a.writeMembers(c, ms)
}

// writeMembers pages an in-memory list: memberships of one source are few.
func (a *API) writeMembers(c *Ctx, ms []*model.Member) error {
	query, _ := c.Params.String("query")
	if err := c.Params.Err(); err != nil {
		return err
	}
	var filtered []*model.Member
	for _, m := range ms {
		if query == "" || containsFold(m.User.Username, query) || containsFold(m.User.Name, query) {
			filtered = append(filtered, m)
		}
	}
	return gate.ListSlice(c.Ctx, filtered, a.memberJSON)
}

func (a *API) getMember(c *Ctx) error {
	uid, err := c.PathInt("user_id")
	if err != nil {
		return err
	}
	kind, id := c.memberSource()
	m, err := a.Store.Member(c.Context(), kind, id, uid)
	if errors.Is(err, model.ErrNotFound) {
		return errNotFound("Member")
	}
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, a.memberJSON(m))
	return nil
}

func (a *API) getAllMember(c *Ctx) error {
	uid, err := c.PathInt("user_id")
	if err != nil {
		return err
	}
	ms, err := c.allMembers()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.UserID == uid {
			writeJSON(c.W, http.StatusOK, a.memberJSON(m))
			return nil
		}
	}
	return errNotFound("Member")
}

// memberInput reads access_level and expires_at for POST and PUT.
func (c *Ctx) memberInput(uid int64) (projects.MemberInput, error) {
	p := c.Params
	p.Require("access_level")
	in := projects.MemberInput{UserID: uid, MayManageOwners: c.Can(authz.ManageOwners), ActorID: c.Principal.UserID()}
	lvl, _ := p.Int("access_level")
	in.AccessLevel = model.AccessLevel(lvl)
	in.ExpiresAt, _ = p.Date("expires_at")
	if err := p.Err(); err != nil {
		return in, err
	}
	if !in.AccessLevel.Valid() {
		return in, errParam("access_level does not have a valid value")
	}
	return in, nil
}

func memberErr(err error) error {
	var me *projects.MemberError
	if errors.As(err, &me) {
		return errMessage(me.Status, me.Message)
	}
	if errors.Is(err, model.ErrNotFound) {
		return errNotFound("Member")
	}
	return err
}

func (a *API) addMember(c *Ctx) error {
	c.Params.Require("user_id")
	uid, _ := c.Params.Int("user_id")
	in, err := c.memberInput(uid)
	if err != nil {
		return err
	}
	if _, err := a.Store.User(c.Context(), uid); errors.Is(err, model.ErrNotFound) {
		return errNotFound("User")
	} else if err != nil {
		return err
	}
	kind, id := c.memberSource()
	m, err := a.Projects.AddMember(c.Context(), kind, id, in)
	if err != nil {
		return memberErr(err)
	}
	writeJSON(c.W, http.StatusCreated, a.memberJSON(m))
	return nil
}

func (a *API) updateMember(c *Ctx) error {
	uid, err := c.PathInt("user_id")
	if err != nil {
		return err
	}
	in, err := c.memberInput(uid)
	if err != nil {
		return err
	}
	kind, id := c.memberSource()
	m, err := a.Projects.UpdateMember(c.Context(), kind, id, in)
	if err != nil {
		return memberErr(err)
	}
	writeJSON(c.W, http.StatusOK, a.memberJSON(m))
	return nil
}

func (a *API) removeMember(c *Ctx) error {
	uid, err := c.PathInt("user_id")
	if err != nil {
		return err
	}
	kind, id := c.memberSource()
	if err := a.Projects.RemoveMember(c.Context(), kind, id, uid, c.Can(authz.ManageOwners)); err != nil {
		return memberErr(err)
	}
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
