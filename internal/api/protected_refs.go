package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/projects"
)

// Protected branches and tags, GitLab's shapes (issue 16). The rules are
// projects.Service's; who may push under them is authz's protected_ref.

// accessLevelJSON is one entry of push_access_levels, merge_access_levels
// or create_access_levels: ciwarden grants by role only, so user_id and
// group_id are always null.
type accessLevelJSON struct {
	ID                     int64  `json:"id"`
	AccessLevel            int    `json:"access_level"`
	AccessLevelDescription string `json:"access_level_description"`
	UserID                 *int64 `json:"user_id"`
	GroupID                *int64 `json:"group_id"`
}

type protectedBranchJSON struct {
	ID                        int64             `json:"id"`
	Name                      string            `json:"name"`
	PushAccessLevels          []accessLevelJSON `json:"push_access_levels"`
	MergeAccessLevels         []accessLevelJSON `json:"merge_access_levels"`
	AllowForcePush            bool              `json:"allow_force_push"`
	CodeOwnerApprovalRequired bool              `json:"code_owner_approval_required"`
}

type protectedTagJSON struct {
	Name               string            `json:"name"`
	CreateAccessLevels []accessLevelJSON `json:"create_access_levels"`
}

func levelJSON(id int64, l model.AccessLevel) []accessLevelJSON {
	return []accessLevelJSON{{ID: id, AccessLevel: int(l), AccessLevelDescription: model.RefLevelDescription(l)}}
}

func protectedBranchEntity(r *model.ProtectedRef) protectedBranchJSON {
	return protectedBranchJSON{ID: r.ID, Name: r.Name, PushAccessLevels: levelJSON(r.ID, r.PushLevel),
		MergeAccessLevels: levelJSON(r.ID, r.MergeLevel), AllowForcePush: r.AllowForcePush}
}

func protectedTagEntity(r *model.ProtectedRef) protectedTagJSON {
	return protectedTagJSON{Name: r.Name, CreateAccessLevels: levelJSON(r.ID, r.PushLevel)}
}

// refKind is the kind a protected_branches or protected_tags row is about.
func refKind(c *Ctx) string {
	if strings.Contains(c.Route.Path, "/protected_tags") {
		return model.RefTag
	}
	return model.RefBranch
}

func (c *Ctx) refName() string {
	if n := c.R.PathValue("tag"); n != "" {
		return n
	}
	return c.R.PathValue("name")
}

func renderRef(c *Ctx, status int, r *model.ProtectedRef) {
	if r.Kind == model.RefTag {
		writeJSON(c.W, status, protectedTagEntity(r))
		return
	}
	writeJSON(c.W, status, protectedBranchEntity(r))
}

func refNotFound(err error) error {
	if errors.Is(err, model.ErrNotFound) {
		return errMessage(http.StatusNotFound, "404 Not found")
	}
	return err
}

func (a *API) listProtectedRefs(c *Ctx) error {
	kind := refKind(c)
	rs, err := a.Projects.ProtectedRefs(c.Context(), c.Project.ID, kind)
	if err != nil {
		return err
	}
	if kind == model.RefTag {
		return gate.ListSlice(c.Ctx, rs, protectedTagEntity)
	}
	return gate.ListSlice(c.Ctx, rs, protectedBranchEntity)
}

func (a *API) getProtectedRef(c *Ctx) error {
	r, err := a.Projects.ProtectedRef(c.Context(), c.Project.ID, refKind(c), c.refName())
	if err != nil {
		return refNotFound(err)
	}
	renderRef(c, http.StatusOK, r)
	return nil
}

// refInput reads the levels of POST and PATCH; unknown levels are 400.
func (c *Ctx) refInput(kind string) (projects.ProtectInput, error) {
	p := c.Params
	var in projects.ProtectInput
	level := func(name string) *model.AccessLevel {
		if !p.Has(name) {
			return nil
		}
		v, _ := p.Int(name)
		l := model.AccessLevel(v)
		return &l
	}
	if kind == model.RefTag {
		in.PushLevel = level("create_access_level")
	} else {
		in.PushLevel = level("push_access_level")
		in.MergeLevel = level("merge_access_level")
		if p.Has("allow_force_push") {
			b, _ := p.Bool("allow_force_push")
			in.AllowForcePush = &b
		}
	}
	return in, p.Err()
}

func (a *API) protectRef(c *Ctx) error {
	kind := refKind(c)
	c.Params.Require("name")
	name, _ := c.Params.String("name")
	in, err := c.refInput(kind)
	if err != nil {
		return err
	}
	in.Name = name
	r, err := a.Projects.ProtectRef(c.Context(), c.Project.ID, kind, in)
	if errors.Is(err, projects.ErrRefProtected) {
		// GitLab: 409 for a branch, 422 for a tag.
		if kind == model.RefTag {
			return errMessage(http.StatusUnprocessableEntity, fmt.Sprintf("Protected tag '%s' already exists", name))
		}
		return errMessage(http.StatusConflict, fmt.Sprintf("Protected branch '%s' already exists", name))
	}
	if err != nil {
		return err
	}
	renderRef(c, http.StatusCreated, r)
	return nil
}

func (a *API) updateProtectedRef(c *Ctx) error {
	in, err := c.refInput(model.RefBranch)
	if err != nil {
		return err
	}
	r, err := a.Projects.UpdateProtectedRef(c.Context(), c.Project.ID, model.RefBranch, c.refName(), in)
	if err != nil {
		return refNotFound(err)
	}
	renderRef(c, http.StatusOK, r)
	return nil
}

func (a *API) unprotectRef(c *Ctx) error {
	if err := a.Projects.UnprotectRef(c.Context(), c.Project.ID, refKind(c), c.refName()); err != nil {
		return refNotFound(err)
	}
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}
