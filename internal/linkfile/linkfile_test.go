package linkfile

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestCreateAtOnce: of processes creating one file at the same moment
// exactly one creates it, the file is whole (one creator's data), and no
// temporary is left beside it.
func TestCreateAtOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "marker")
	created := make([]bool, 16)
	var wg sync.WaitGroup
	for i := range created {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if created[i], err = Create(path, fmt.Appendf(nil, "writer %02d\n", i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	winner := -1
	for i, c := range created {
		if c {
			if winner >= 0 {
				t.Fatalf("writers %d and %d both created the file", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no writer created the file")
	}
	b, err := os.ReadFile(path)
	if want := fmt.Sprintf("writer %02d\n", winner); err != nil || string(b) != want {
		t.Fatalf("file %q, %v; want the winner's %q", b, err, want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("%d entries, want the file alone", len(entries))
	}
	if again, err := Create(path, []byte("later\n")); again || err != nil {
		t.Fatalf("Create on an existing file = %v, %v; want false, nil", again, err)
	}
}
