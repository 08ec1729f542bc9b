package registry_test

// The embedded registry at /v2/ with a real client (go-containerregistry,
// the library crane is made of): what the token service grants is what
// the registry allows.

import (
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

func ref(t *testing.T, s *testserver.Server, path string) name.Reference {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(u.Host+"/"+path, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func basicAuth(user, password string) remote.Option {
	return remote.WithAuth(&authn.Basic{Username: user, Password: password})
}

// wantStatus checks that err is the registry's refusal with status.
func wantStatus(t *testing.T, err error, status int) {
	t.Helper()
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode != status {
		t.Fatalf("got %v, want the registry's %d", err, status)
	}
}

func TestPushPull(t *testing.T) {
	t.Parallel()
	s := testserver.New(t, testserver.Options{})
	team := s.NewTeam(t, "private")
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	tag := ref(t, s, "grp/app/tool:v1")

	// A Reporter may not push: the token carries pull only, and the
	// registry refuses; nothing is written.
	wantStatus(t, remote.Write(tag, img, basicAuth("reporter", team.Reporter.Token)), http.StatusUnauthorized)
	_, err = remote.Head(tag, basicAuth("reporter", team.Reporter.Token))
	wantStatus(t, err, http.StatusNotFound)

	if err := remote.Write(tag, img, basicAuth("dev", team.Dev.Token)); err != nil {
		t.Fatalf("developer's push: %v", err)
	}
	got, err := remote.Image(tag, basicAuth("reporter", team.Reporter.Token))
	if err != nil {
		t.Fatalf("reporter's pull: %v", err)
	}
	want, _ := img.Digest()
	if d, _ := got.Digest(); d != want {
		t.Fatalf("pulled %s, pushed %s", d, want)
	}
	// Layers come back whole.
	layers, err := got.Layers()
	if err != nil || len(layers) != 2 {
		t.Fatalf("layers %d, %v", len(layers), err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	// Neither the outsider nor the anonymous see a private project's
	// image.
	_, err = remote.Image(tag, basicAuth("outsider", team.Outsider.Token))
	wantStatus(t, err, http.StatusUnauthorized)
	_, err = remote.Image(tag)
	wantStatus(t, err, http.StatusUnauthorized)
	// Bad paths at /v2/: a dot segment is refused before any routing,
	// an upper-case name by the registry.
	for path, want := range map[string]int{"/v2/grp/../app/tags/list": 400, "/v2/grp/app/%2e%2e/tags/list": 400} {
		if r := s.Call(t, "GET", path, nil, nil); r.Status != want {
			t.Errorf("GET %s: %s, want %d", path, r, want)
		}
	}
	// A wrong password fails at the token service.
	_, err = remote.Image(tag, basicAuth("dev", "glpat-wrong"))
	wantStatus(t, err, http.StatusUnauthorized)
}
