package web_test

import (
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

func TestMain(m *testing.M) { testserver.Main(m) }
