package accounts_test

import (
	"testing"

	"github.com/ciwarden/ciwarden/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }
