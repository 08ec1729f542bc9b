package variables_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/runnerproto"
	"github.com/ciwarden/ciwarden/internal/variables"
)

// The layers a job's variable can come from, highest precedence first
// (GitLab's "CI/CD variable precedence", issue 16 item 3).
var layers = []string{"play", "pipeline", "project", "subgroup", "group", "instance", "yaml", "predefined"}

// payloadWith builds the payload of a job whose variable key is set in
// each of the given layers to the layer's name. The predefined layer is
// CI_PROJECT_TITLE, the project's name.
func payloadWith(t *testing.T, key string, in []string) *runnerproto.Payload {
	t.Helper()
	root, sub := int64(1), int64(2)
	owners := []model.VariableOwner{{Kind: model.OwnerInstance}, {Kind: model.OwnerGroup, ID: root},
		{Kind: model.OwnerGroup, ID: sub}, {Kind: model.OwnerProject, ID: 7}}
	ownerOf := map[string]model.VariableOwner{"instance": owners[0], "group": owners[1], "subgroup": owners[2], "project": owners[3]}
	var rows []*model.CIVariable
	var spec ci.Spec
	pl := &model.Pipeline{ID: 3, IID: 1, Ref: "main", SHA: "0123456789abcdef", CreatedAt: time.Unix(0, 0)}
	for _, l := range in {
		switch l {
		case "play": // a manual job's job_variables_attributes
			spec.PlayVariables = append(spec.PlayVariables, model.Variable{Key: key, Value: l})
		case "pipeline":
			pl.Variables = append(pl.Variables, model.Variable{Key: key, Value: l})
		case "yaml":
			spec.Variables = append(spec.Variables, model.Variable{Key: key, Value: l})
		case "predefined":
		default:
			// Stored in the opposite order of precedence, so that the
			// order of rows cannot be what decides.
			rows = append([]*model.CIVariable{{Owner: ownerOf[l], Key: key, Value: l, Type: model.VariableEnv, EnvironmentScope: "*"}}, rows...)
		}
	}
	specJSON, _ := json.Marshal(spec)
	ns := &model.Namespace{ID: sub, Kind: model.NamespaceGroup, FullPath: "g/s", Traversal: []int64{root, sub}}
	return ci.BuildPayload(ci.PayloadInput{ExternalURL: "http://ci.example", Token: "t",
		Project:  &model.Project{ID: 7, Name: "predefined", Path: "app", NamespaceID: sub, Namespace: ns},
		Pipeline: pl, Job: &model.Job{ID: 9, Name: "j", Spec: specJSON}, User: &model.User{ID: 1},
		CIVariables: variables.Resolve(rows, owners, "", false)})
}

// lastValue is what the runner sees: the last entry of key wins.
func lastValue(p *runnerproto.Payload, key string) string {
	v := ""
	for _, pv := range p.Variables {
		if pv.Key == key {
			v = pv.Value
		}
	}
	return v
}

func TestPrecedence(t *testing.T) {
	for i, high := range layers {
		for _, low := range layers[i+1:] {
			t.Run(high+" over "+low, func(t *testing.T) {
				key := "MY_VAR"
				if low == "predefined" {
					key = "CI_PROJECT_TITLE"
				}
				if got := lastValue(payloadWith(t, key, []string{low, high}), key); got != high {
					t.Errorf("%s = %q, want %q", key, got, high)
				}
			})
		}
	}
	// Every layer at once: the highest wins.
	if got := lastValue(payloadWith(t, "CI_PROJECT_TITLE", layers), "CI_PROJECT_TITLE"); got != "play" {
		t.Errorf("all layers: %q, want play", got)
	}
}

func TestEnvironmentScope(t *testing.T) {
	o := model.VariableOwner{Kind: model.OwnerProject, ID: 1}
	row := func(scope, value string) *model.CIVariable {
		return &model.CIVariable{Owner: o, Key: "K", Value: value, Type: model.VariableEnv, EnvironmentScope: scope}
	}
	all := []*model.CIVariable{row("review/*", "wildcard"), row("production", "exact"), row("*", "any"), row("staging", "other")}
	for _, c := range []struct {
		env, want string
	}{
		{"production", "exact"},
		{"review/feature-1", "wildcard"},
		{"review/", "wildcard"},
		{"development", "any"},
		{"", "any"},
	} {
		got := variables.Resolve(all, []model.VariableOwner{o}, c.env, false)
		if len(got) != 1 || got[0].Value != c.want {
			t.Errorf("environment %q: %+v, want %q alone", c.env, got, c.want)
		}
	}
	// Without a `*` variable, a job outside every scope gets none.
	if got := variables.Resolve(all[1:2], []model.VariableOwner{o}, "", false); len(got) != 0 {
		t.Errorf("no environment, only a production variable: %+v", got)
	}
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"review/*", "review/a", true}, {"review/*", "reviews/a", false}, {"*-prod", "eu-prod", true},
		{"*-prod", "eu-prod-2", false}, {"a*b*c", "axxbyyc", true}, {"a*b*c", "acb", false},
	} {
		got := variables.Resolve([]*model.CIVariable{row(c.pattern, "v")}, []model.VariableOwner{o}, c.name, false)
		if (len(got) == 1) != c.want {
			t.Errorf("scope %q, environment %q: matched %v, want %v", c.pattern, c.name, len(got) == 1, c.want)
		}
	}
}

func TestProtectedAndFlags(t *testing.T) {
	o := model.VariableOwner{Kind: model.OwnerProject, ID: 1}
	rows := []*model.CIVariable{
		{Owner: o, Key: "PROTECTED", Value: "p", Protected: true, Type: model.VariableEnv, EnvironmentScope: "*"},
		{Owner: o, Key: "FILE", Value: "f", Type: model.VariableFile, EnvironmentScope: "*", Masked: false, Raw: true},
	}
	got := variables.Resolve(rows, []model.VariableOwner{o}, "", false)
	if len(got) != 1 || got[0].Key != "FILE" || !got[0].File || !got[0].Raw || !got[0].Private {
		t.Errorf("unprotected ref: %+v, want FILE alone, file, raw and private", got)
	}
	if got := variables.Resolve(rows, []model.VariableOwner{o}, "", true); len(got) != 2 {
		t.Errorf("protected ref: %d variables, want 2", len(got))
	}
}
