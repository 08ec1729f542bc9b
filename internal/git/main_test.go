package git_test

import (
	"testing"

	"github.com/ciwarden/ciwarden/internal/testdb"
)

// TestMain prints which databases and blob stores the tests ran against.
func TestMain(m *testing.M) { testdb.Main(m) }
