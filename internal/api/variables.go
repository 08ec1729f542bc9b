package api

import (
	"errors"
	"net/http"

	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/variables"
)

// CI/CD variables of projects, groups and the instance (issue 16): the
// rows are in routes.go, the rules in internal/variables.

// variableJSON is a project's or group's variable as GitLab renders it;
// a hidden one's value is never returned again (null).
type variableJSON struct {
	VariableType     string  `json:"variable_type"`
	Key              string  `json:"key"`
	Value            *string `json:"value"`
	Hidden           bool    `json:"hidden"`
	Protected        bool    `json:"protected"`
	Masked           bool    `json:"masked"`
	Raw              bool    `json:"raw"`
	EnvironmentScope string  `json:"environment_scope"`
	Description      *string `json:"description"`
}

// instanceVariableJSON is an instance variable: no scope, never hidden.
type instanceVariableJSON struct {
	Key          string  `json:"key"`
	Description  *string `json:"description"`
	VariableType string  `json:"variable_type"`
	Value        string  `json:"value"`
	Protected    bool    `json:"protected"`
	Masked       bool    `json:"masked"`
	Raw          bool    `json:"raw"`
}

func renderVariable(v *model.CIVariable) any {
	if v.Owner.Kind == model.OwnerInstance {
		return instanceVariableJSON{Key: v.Key, Description: v.Description, VariableType: v.Type, Value: v.Value,
			Protected: v.Protected, Masked: v.Masked, Raw: v.Raw}
	}
	out := variableJSON{VariableType: v.Type, Key: v.Key, Hidden: v.Hidden, Protected: v.Protected, Masked: v.Masked,
		Raw: v.Raw, EnvironmentScope: v.EnvironmentScope, Description: v.Description}
	if !v.Hidden {
		out.Value = &v.Value
	}
	return out
}

// variableOwner is whose variables the route is about.
func (c *Ctx) variableOwner() model.VariableOwner {
	switch {
	case c.Project != nil:
		return model.VariableOwner{Kind: model.OwnerProject, ID: c.Project.ID}
	case c.Group != nil:
		return model.VariableOwner{Kind: model.OwnerGroup, ID: c.Group.ID}
	}
	return model.VariableOwner{Kind: model.OwnerInstance}
}

// scopeFilter is filter[environment_scope], from the query string or a
// form (filter[environment_scope]=...) or a JSON body ({"filter":
// {"environment_scope": ...}}); nil when not given.
func (c *Ctx) scopeFilter() (*string, error) {
	if s, ok := c.Params.String("filter[environment_scope]"); ok {
		return &s, c.Params.Err()
	}
	raw, ok := c.Params.Raw("filter")
	if !ok {
		return nil, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, errParam("filter is invalid")
	}
	sv, ok := m["environment_scope"]
	if !ok {
		return nil, nil
	}
	s, ok := sv.(string)
	if !ok {
		return nil, errParam("filter[environment_scope] is invalid")
	}
	return &s, nil
}

func (c *Ctx) optBool(name string) *bool {
	if b, ok := c.Params.Bool(name); ok {
		return &b
	}
	return nil
}

// variableInput reads a create's or an update's attributes.
func (c *Ctx) variableInput() (variables.Input, error) {
	in := variables.Input{
		Value: c.optString("value"), Protected: c.optBool("protected"), Masked: c.optBool("masked"),
		MaskedAndHidden: c.optBool("masked_and_hidden"), Raw: c.optBool("raw"),
		EnvironmentScope: c.optString("environment_scope"), Description: c.optString("description"),
	}
	if t := c.optString("variable_type"); t != nil {
		if *t != model.VariableEnv && *t != model.VariableFile {
			c.Params.Fail("variable_type does not have a valid value")
		}
		in.Type = t
	}
	return in, c.Params.Err()
}

func variableErr(err error) error {
	switch {
	case errors.Is(err, model.ErrNotFound):
		return errNotFound("Variable")
	case errors.Is(err, variables.ErrAmbiguous):
		return errMessage(http.StatusConflict, err.Error())
	}
	return err
}

func (a *API) listVariables(c *Ctx) error {
	vs, err := a.Variables.List(c.Context(), c.variableOwner())
	if err != nil {
		return err
	}
	return gate.ListSlice(c.Ctx, vs, renderVariable)
}

func (a *API) getVariable(c *Ctx) error {
	scope, err := c.scopeFilter()
	if err != nil {
		return err
	}
	v, err := a.Variables.Get(c.Context(), c.variableOwner(), c.R.PathValue("key"), scope)
	if err != nil {
		return variableErr(err)
	}
	writeJSON(c.W, http.StatusOK, renderVariable(v))
	return nil
}

func (a *API) createVariable(c *Ctx) error {
	c.Params.Require("key", "value")
	key, _ := c.Params.String("key")
	in, err := c.variableInput()
	if err != nil {
		return err
	}
	in.Key = key
	v, err := a.Variables.Create(c.Context(), c.variableOwner(), in)
	if err != nil {
		return variableErr(err)
	}
	writeJSON(c.W, http.StatusCreated, renderVariable(v))
	return nil
}

func (a *API) updateVariable(c *Ctx) error {
	scope, err := c.scopeFilter()
	if err != nil {
		return err
	}
	in, err := c.variableInput()
	if err != nil {
		return err
	}
	v, err := a.Variables.Update(c.Context(), c.variableOwner(), c.R.PathValue("key"), scope, in)
	if err != nil {
		return variableErr(err)
	}
	writeJSON(c.W, http.StatusOK, renderVariable(v))
	return nil
}

func (a *API) deleteVariable(c *Ctx) error {
	scope, err := c.scopeFilter()
	if err != nil {
		return err
	}
	if err := a.Variables.Delete(c.Context(), c.variableOwner(), c.R.PathValue("key"), scope); err != nil {
		return variableErr(err)
	}
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}
