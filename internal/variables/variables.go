// Package variables keeps the CI/CD variables of projects, groups and the
// instance (issue 16): GitLab's attributes and validation rules, values
// sealed with the instance key at rest, and the list a job receives.
package variables

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/secretbox"
	"github.com/ciwarden/ciwarden/internal/store"
)

// Limits and character sets, as GitLab's.
const (
	MaxKeyLen = 255
	// MaxValueLen bounds a value (a file variable's content included):
	// GitLab's 10,000 characters.
	MaxValueLen = 10000
	MaxScopeLen = 255
	// MinMaskedLen is the shortest value that may be masked.
	MinMaskedLen = 8
)

// ErrAmbiguous: several variables have the key and no environment scope
// filter picks one (GitLab answers 409).
var ErrAmbiguous = errors.New("There are multiple variables with provided parameters. Please use 'filter[environment_scope]'")

// Service reads and changes variables.
type Service struct {
	Store *store.Store
	Box   *secretbox.Box
	Now   func() time.Time
}

// Input is a create or update request; nil fields are not given.
type Input struct {
	Key              string
	Value            *string
	Type             *string
	Protected        *bool
	Masked           *bool
	MaskedAndHidden  *bool
	Raw              *bool
	EnvironmentScope *string
	Description      *string
}

// SealContext binds a sealed value to its owner and key: a value copied to
// another variable's row does not open there.
func SealContext(o model.VariableOwner, key string) []byte {
	return []byte("ci_variables.value_sealed " + o.String() + " " + key)
}

func (s *Service) seal(v *model.CIVariable) {
	v.Sealed = s.Box.Seal([]byte(v.Value), SealContext(v.Owner, v.Key))
}

func (s *Service) open(v *model.CIVariable) error {
	plain, err := s.Box.Open(v.Sealed, SealContext(v.Owner, v.Key))
	if err != nil {
		// Which variable, never its value.
		return fmt.Errorf("variable %s of %s: %w", v.Key, v.Owner, err)
	}
	v.Value = string(plain)
	return nil
}

func (s *Service) openAll(vs []*model.CIVariable) ([]*model.CIVariable, error) {
	for _, v := range vs {
		if err := s.open(v); err != nil {
			return nil, err
		}
	}
	return vs, nil
}

// List is an owner's variables, opened.
func (s *Service) List(ctx context.Context, o model.VariableOwner) ([]*model.CIVariable, error) {
	vs, err := s.Store.CIVariables(ctx, o)
	if err != nil {
		return nil, err
	}
	return s.openAll(vs)
}

// find is the owner's variable key, in scope when scope is given;
// model.ErrNotFound or ErrAmbiguous.
func find(vs []*model.CIVariable, key string, scope *string) (*model.CIVariable, error) {
	var found *model.CIVariable
	for _, v := range vs {
		if v.Key != key || scope != nil && v.EnvironmentScope != *scope {
			continue
		}
		if found != nil {
			return nil, ErrAmbiguous
		}
		found = v
	}
	if found == nil {
		return nil, model.ErrNotFound
	}
	return found, nil
}

// Get is one variable, opened; scope (filter[environment_scope]) picks
// among variables of one key.
func (s *Service) Get(ctx context.Context, o model.VariableOwner, key string, scope *string) (*model.CIVariable, error) {
	vs, err := s.Store.CIVariables(ctx, o)
	if err != nil {
		return nil, err
	}
	v, err := find(vs, key, scope)
	if err != nil {
		return nil, err
	}
	return v, s.open(v)
}

// Create adds a variable.
func (s *Service) Create(ctx context.Context, o model.VariableOwner, in Input) (*model.CIVariable, error) {
	now := s.Now()
	v := &model.CIVariable{Owner: o, Key: in.Key, Type: model.VariableEnv, EnvironmentScope: "*", CreatedAt: now, UpdatedAt: now}
	if err := validKey(in.Key); err != nil {
		return nil, err
	}
	if in.Value == nil {
		return nil, model.Invalid("value", "can't be blank")
	}
	if in.MaskedAndHidden != nil && *in.MaskedAndHidden {
		v.Hidden, v.Masked = true, true
	}
	if err := apply(v, in, o.Kind != model.OwnerInstance); err != nil {
		return nil, err
	}
	s.seal(v)
	if err := s.Store.InsertCIVariable(ctx, v); err != nil {
		return nil, conflict(err, v.Key)
	}
	return v, nil
}

// Update changes the variable key (picked by scope among several).
func (s *Service) Update(ctx context.Context, o model.VariableOwner, key string, scope *string, in Input) (*model.CIVariable, error) {
	v, err := s.Get(ctx, o, key, scope)
	if err != nil {
		return nil, err
	}
	if v.Hidden && in.Masked != nil && !*in.Masked {
		return nil, model.Invalid("masked", "cannot be changed for masked and hidden variables")
	}
	if err := apply(v, in, o.Kind != model.OwnerInstance); err != nil {
		return nil, err
	}
	v.UpdatedAt = s.Now()
	s.seal(v)
	if err := s.Store.UpdateCIVariable(ctx, v); err != nil {
		return nil, conflict(err, v.Key)
	}
	return v, nil
}

// Delete removes the variable key (picked by scope among several).
func (s *Service) Delete(ctx context.Context, o model.VariableOwner, key string, scope *string) error {
	vs, err := s.Store.CIVariables(ctx, o)
	if err != nil {
		return err
	}
	v, err := find(vs, key, scope)
	if err != nil {
		return err
	}
	return s.Store.DeleteCIVariable(ctx, v.ID)
}

func conflict(err error, key string) error {
	if errors.Is(err, model.ErrConflict) {
		return model.Invalid("key", "("+key+") has already been taken")
	}
	return err
}

// apply sets the given attributes on v and checks the result; scoped says
// whether the owner's variables have environment scopes (the instance's
// have none).
func apply(v *model.CIVariable, in Input, scoped bool) error {
	if in.Value != nil {
		v.Value = *in.Value
	}
	if in.Type != nil {
		v.Type = *in.Type
	}
	if in.Protected != nil {
		v.Protected = *in.Protected
	}
	if in.Masked != nil && !v.Hidden {
		v.Masked = *in.Masked
	}
	if in.Raw != nil {
		v.Raw = *in.Raw
	}
	if in.EnvironmentScope != nil && scoped {
		v.EnvironmentScope = *in.EnvironmentScope
	}
	if in.Description != nil {
		v.Description = in.Description
	}
	fields := map[string][]string{}
	if v.Type != model.VariableEnv && v.Type != model.VariableFile {
		fields["variable_type"] = append(fields["variable_type"], "is not included in the list")
	}
	if len(v.Value) > MaxValueLen {
		fields["value"] = append(fields["value"], fmt.Sprintf("is too long (maximum is %d characters)", MaxValueLen))
	}
	if v.Masked {
		if msg := Maskable(v.Value); msg != "" {
			fields["value"] = append(fields["value"], msg)
		}
	}
	if msg := validScope(v.EnvironmentScope); msg != "" {
		fields["environment_scope"] = append(fields["environment_scope"], msg)
	}
	if len(fields) > 0 {
		return &model.ValidationError{Fields: fields}
	}
	return nil
}

func validKey(key string) error {
	if key == "" {
		return model.Invalid("key", "can't be blank")
	}
	if len(key) > MaxKeyLen {
		return model.Invalid("key", fmt.Sprintf("is too long (maximum is %d characters)", MaxKeyLen))
	}
	for _, r := range key {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return model.Invalid("key", "can contain only letters, digits and '_'.")
		}
	}
	return nil
}

// Maskable says why value cannot be masked, "" when it can: GitLab's rule
// for masked variables is at least 8 characters on one line, all from the
// Base64 alphabet (RFC 4648, standard and URL-safe) and '@', ':', '.', '~'.
func Maskable(value string) string {
	if len(value) < MinMaskedLen || !onlyMaskChars(value) {
		return fmt.Sprintf("cannot be masked: a masked value must be at least %d characters on one line, of letters, digits and the characters %s only", MinMaskedLen, maskSpecials)
	}
	return ""
}

const (
	maskSpecials = "+ / = - _ @ : . ~"
	maskChars    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_@:.~"
)

func onlyMaskChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(maskChars, rune(s[i])) {
			return false
		}
	}
	return true
}

// validScope checks an environment scope: "*", an environment name, or a
// pattern with '*' wildcards, from GitLab's character set for environment
// names.
func validScope(scope string) string {
	if scope == "" {
		return "can't be blank"
	}
	if len(scope) > MaxScopeLen {
		return fmt.Sprintf("is too long (maximum is %d characters)", MaxScopeLen)
	}
	for _, r := range scope {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_/${}. *", r)) {
			return "can contain only letters, digits, '-', '_', '/', '$', '{', '}', '.', '*' and spaces"
		}
	}
	return ""
}
