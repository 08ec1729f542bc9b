package api

import (
	"net/http"
	"net/url"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
	"github.com/ciwarden/ciwarden/internal/terraform"
)

// terraformAPI is how the Terraform state backend takes credentials:
// HTTP Basic as OpenTofu sends them (gitlab-ci-token and the job token,
// or a user name and a personal access token), the JOB-TOKEN and
// PRIVATE-TOKEN headers, or Bearer (gitlab-compat.md §1, §6). The body
// is a state or lock information, never parameters; ?ID= is read from the
// query.
var terraformAPI = Accepts{PAT: auth.Header | auth.Basic | auth.Bearer, JobToken: auth.Header | auth.Basic | auth.Bearer, RawBody: true}

// stateName reads and checks {name}.
func (c *Ctx) stateName() (string, error) {
	name := c.R.PathValue("name")
	return name, terraform.CheckName(name)
}

// stateVersion reads and checks {name} and {serial}.
func (c *Ctx) stateVersion() (string, int64, error) {
	name, err := c.stateName()
	if err != nil {
		return "", 0, err
	}
	serial, err := c.PathInt("serial")
	return name, serial, err
}

// lockID is the ?ID= of a write or delete: the lock the client holds.
func (c *Ctx) lockID() (string, bool) { return c.Params.String("ID") }

// writeState answers a state's content as OpenTofu reads it.
func writeState(c *Ctx, data []byte) {
	c.W.Header().Set("Content-Type", "application/json")
	c.W.WriteHeader(http.StatusOK)
	_, _ = c.W.Write(data)
}

// getState is GET /projects/:id/terraform/state/:name: the newest version,
// or 204 for a state that does not exist yet (OpenTofu's "no state").
func (a *API) getState(c *Ctx) error {
	name, err := c.stateName()
	if err != nil {
		return err
	}
	st, data, err := a.Terraform.State(c.Context(), c.Project, name)
	if err != nil {
		return err
	}
	if st == nil {
		c.W.WriteHeader(http.StatusNoContent)
		return nil
	}
	writeState(c, data)
	return nil
}

// postState is POST /projects/:id/terraform/state/:name(?ID=<lock id>):
// a new version, whose serial is the state's own.
func (a *API) postState(c *Ctx) error {
	name, err := c.stateName()
	if err != nil {
		return err
	}
	id, hasID := c.lockID()
	if _, err := a.Terraform.Write(c.Context(), c.Principal, c.Project, name, id, hasID, c.R.Header.Get("Content-MD5"),
		c.R.Body, c.R.ContentLength); err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusOK)
	return nil
}

// deleteState is DELETE /projects/:id/terraform/state/:name: the state
// and every version.
func (a *API) deleteState(c *Ctx) error {
	name, err := c.stateName()
	if err != nil {
		return err
	}
	id, hasID := c.lockID()
	if err := a.Terraform.Delete(c.Context(), c.Project, name, id, hasID); err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusOK)
	return nil
}

// lockState is POST .../state/:name/lock, or the LOCK method: the body
// is OpenTofu's lock information.
func (a *API) lockState(c *Ctx) error {
	name, err := c.stateName()
	if err != nil {
		return err
	}
	id, info, err := terraform.ParseLock(c.R.Body)
	if err != nil {
		return err
	}
	if err := a.Terraform.Lock(c.Context(), c.Principal, c.Project, name, id, info); err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusOK)
	return nil
}

// unlockState is DELETE .../state/:name/lock, or the UNLOCK method: the
// lock named by the body's ID (or ?ID=); neither releases any lock.
func (a *API) unlockState(c *Ctx) error {
	name, err := c.stateName()
	if err != nil {
		return err
	}
	id, _, err := terraform.ParseLock(c.R.Body)
	if err != nil {
		return err
	}
	if id == "" {
		id, _ = c.lockID()
	}
	if err := a.Terraform.Unlock(c.Context(), c.Project, name, id); err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusOK)
	return nil
}

// getStateVersion is GET .../state/:name/versions/:serial.
func (a *API) getStateVersion(c *Ctx) error {
	name, serial, err := c.stateVersion()
	if err != nil {
		return err
	}
	_, data, err := a.Terraform.Version(c.Context(), c.Project, name, serial)
	if err != nil {
		return err
	}
	writeState(c, data)
	return nil
}

// deleteStateVersion is DELETE .../state/:name/versions/:serial.
func (a *API) deleteStateVersion(c *Ctx) error {
	name, serial, err := c.stateVersion()
	if err != nil {
		return err
	}
	if err := a.Terraform.DeleteVersion(c.Context(), c.Project, name, serial); err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}

// stateVersionEntity is one version as the listings show it (a REST
// addition: GitLab has these in GraphQL only).
type stateVersionEntity struct {
	Serial          int64  `json:"serial"`
	Size            int64  `json:"size"`
	CreatedAt       string `json:"created_at"`
	CreatedByUserID int64  `json:"created_by_user_id"`
	JobID           *int64 `json:"job_id"`
	DownloadPath    string `json:"download_path"`
}

type stateEntity struct {
	Name           string              `json:"name"`
	LockedAt       *string             `json:"locked_at"`
	LockedByUserID *int64              `json:"locked_by_user_id"`
	LatestVersion  *stateVersionEntity `json:"latest_version"`
	CreatedAt      string              `json:"created_at"`
	UpdatedAt      string              `json:"updated_at"`
}

func statePath(c *Ctx, name string) string {
	return Prefix + "/projects/" + itoa(c.Project.ID) + "/terraform/state/" + url.PathEscape(name)
}

func stateVersionJSON(c *Ctx, name string, v *model.TerraformStateVersion) *stateVersionEntity {
	return &stateVersionEntity{Serial: v.Serial, Size: v.Size, CreatedAt: timeJSON(v.CreatedAt), CreatedByUserID: v.CreatedBy,
		JobID: v.JobID, DownloadPath: statePath(c, name) + "/versions/" + itoa(v.Serial)}
}

// listStates is GET /projects/:id/terraform/state (a REST addition).
func (a *API) listStates(c *Ctx) error {
	return gate.List(c.Ctx, func(pg store.Page) ([]*model.TerraformState, int, error) {
		return a.Terraform.List(c.Context(), c.Project, pg)
	}, func(s *model.TerraformState) *stateEntity {
		e := &stateEntity{Name: s.Name, CreatedAt: timeJSON(s.CreatedAt), UpdatedAt: timeJSON(s.UpdatedAt)}
		if s.Lock != nil {
			at := timeJSON(s.Lock.LockedAt)
			e.LockedAt, e.LockedByUserID = &at, &s.Lock.UserID
		}
		if s.Latest != nil {
			e.LatestVersion = stateVersionJSON(c, s.Name, s.Latest)
		}
		return e
	})
}

// listStateVersions is GET .../state/:name/versions (a REST addition).
func (a *API) listStateVersions(c *Ctx) error {
	name, err := c.stateName()
	if err != nil {
		return err
	}
	return gate.List(c.Ctx, func(pg store.Page) ([]*model.TerraformStateVersion, int, error) {
		return a.Terraform.Versions(c.Context(), c.Project, name, pg)
	}, func(v *model.TerraformStateVersion) *stateVersionEntity { return stateVersionJSON(c, name, v) })
}
