package mask

import (
	"bytes"
	"math/rand"
	"testing"
)

// FuzzStreamEqualsOneShot: for any input and any cuts, streaming (with a
// Resume at every second cut pattern) equals Mask of the whole, Mask
// equals the reference, and no secret or token encoding survives.
func FuzzStreamEqualsOneShot(f *testing.F) {
	r := propRules()
	m, err := Compile(r)
	if err != nil {
		f.Fatal(err)
	}
	hide := leaks(r)
	for _, s := range []string{
		"xaaab12345y", "ababab1234", "abcdefgh12345678",
		"git clone https://gitlab-ci-token:" + jobToken + "@h/p.git\n",
		"?private_token=abc&x=1 glpat-abc _gitlab_session=x",
		"https://u:p@ss@host/ https://host:8080/x redis://:pw@h",
		wrap76("Z2l0bGFiLWNpLXRva2VuOmN3am9iLVF4N3ZOMmtMcDlSdFo0bVc4c0hjM3lKZDZmQjFnQTVlVTBvS2lUblZiWHFfLTJoRjk="),
		"YWFiMTIzNDU= x YWJhYjEyMzQK cGEic3NcdzByZA== pa%22ss%5Cw0rd",
	} {
		f.Add([]byte(s), []byte{1, 3, 7})
	}
	rng := rand.New(rand.NewSource(3))
	for i := 0; i < 8; i++ {
		in, _ := propCase(rng, r, 200)
		cuts := make([]byte, rng.Intn(8))
		rng.Read(cuts)
		f.Add(in, cuts)
	}
	f.Fuzz(func(t *testing.T, in, cutBytes []byte) {
		want := m.Mask(in)
		if ref := reference(r, in); !bytes.Equal(want, ref) {
			t.Fatalf("Mask and reference differ for %q\nMask: %q\nref:  %q", in, want, ref)
		}
		for _, l := range hide {
			if bytes.Contains(want, []byte(l)) {
				t.Fatalf("%q leaks in %q", l, want)
			}
		}
		// Each cut byte is the length of the next chunk; the rest of the
		// input is the last chunk.
		var cuts []int
		c := 0
		for _, b := range cutBytes {
			c += int(b)
			if c > len(in) {
				break
			}
			cuts = append(cuts, c)
		}
		if got := stream(t, m, in, cuts, len(cutBytes)%2 == 1); !bytes.Equal(got, want) {
			t.Fatalf("cuts %v:\n got %q\nwant %q", cuts, got, want)
		}
	})
}

// FuzzResume: any bytes given to Resume are refused or give a Writer that
// works; none makes it panic or hold more than they carried.
func FuzzResume(f *testing.F) {
	m, err := Compile(propRules())
	if err != nil {
		f.Fatal(err)
	}
	for _, in := range []string{"x https://u:" + jobToken[:20], "?tok", "glpat-ab", "aab1"} {
		w := m.NewWriter(&bytes.Buffer{})
		w.Write([]byte(in))
		f.Add(w.State())
	}
	f.Fuzz(func(t *testing.T, state []byte) {
		var out bytes.Buffer
		w, err := m.Resume(state, &out)
		if err != nil {
			return
		}
		if w.Held() > len(state) {
			t.Fatalf("holds %d bytes from a %d-byte state", w.Held(), len(state))
		}
		w.Write([]byte("more log " + jobToken + "\n"))
		w.Close()
		if bytes.Contains(out.Bytes(), []byte(jobToken)) {
			t.Fatalf("token leaks after Resume: %q", out.Bytes())
		}
	})
}
