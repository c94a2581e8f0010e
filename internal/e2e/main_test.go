//go:build e2e

package e2e

import (
	"testing"

	"github.com/ferrydata/ferry/internal/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }
